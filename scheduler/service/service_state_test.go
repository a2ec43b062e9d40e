package service

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
)

// TestVolumeServiceState: the backend's cinder-volume os-services row gates placement.
func TestVolumeServiceState(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			e.dpv("dpv-a")
			e.dpv("dpv-b")
			st := e.db.Store()
			host := model.VolumeServiceHost("be1")
			place := func() *model.Volume {
				v, w := e.volume(nil)
				require.NoError(t, e.svc.Schedule(e.ctx, w.ID))
				return e.getVolume(v.ID)
			}
			refused := func(why string) {
				t.Helper()
				got := place()
				require.Equal(t, model.StatusError, got.Status, why)
				require.Equal(t, "No valid backend was found. The cinder-volume service dlvm@be1 is "+why+".", got.ErrorReason)
				require.Empty(t, got.DVGID, why)
				require.Empty(t, e.legs(got.ID), why)
			}

			require.Equal(t, "dvg-gold", place().DVGID, "no service row yet: placement goes on")

			require.NoError(t, st.HeartbeatService(e.ctx, host, model.BinaryVolume, "nova", time.Now()))
			require.Equal(t, "dvg-gold", place().DVGID, "up and enabled")

			require.NoError(t, st.SetServiceDisabled(e.ctx, host, model.BinaryVolume, true, "maintenance"))
			refused("disabled")
			require.NoError(t, st.SetServiceDisabled(e.ctx, host, model.BinaryVolume, false, ""))

			_, err := st.SetServicesFrozen(e.ctx, host, model.BinaryVolume, true)
			require.NoError(t, err)
			refused("frozen")
			_, err = st.SetServicesFrozen(e.ctx, host, model.BinaryVolume, false)
			require.NoError(t, err)

			require.NoError(t, st.HeartbeatService(e.ctx, host, model.BinaryVolume, "nova", time.Now().Add(-2*time.Minute)))
			refused("down")

			require.NoError(t, st.HeartbeatService(e.ctx, host, model.BinaryVolume, "nova", time.Now()))
			require.Equal(t, "dvg-gold", place().DVGID, "back up")
		})
	}
}
