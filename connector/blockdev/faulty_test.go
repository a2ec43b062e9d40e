package blockdev

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFaulty(t *testing.T) {
	for _, tc := range []struct {
		name           string
		reads, writes  Fault
		readErr, wrErr bool
		stored         bool
	}{
		{"none", FaultNone, FaultNone, false, false, true},
		{"write error", FaultNone, FaultError, false, true, false},
		{"read error", FaultError, FaultNone, true, false, true},
		{"drop", FaultNone, FaultDrop, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMem(100)
			f := &Faulty{Device: m}
			f.SetReads(tc.reads)
			f.SetWrites(tc.writes)
			_, err := f.WriteAt([]byte{9}, 5)
			require.Equal(t, tc.wrErr, err != nil)
			if err != nil {
				require.ErrorIs(t, err, ErrIO)
				require.ErrorIs(t, f.Flush(), ErrIO)
			}
			b := make([]byte, 1)
			_, err = f.ReadAt(b, 5)
			require.Equal(t, tc.readErr, err != nil)
			_, _ = m.ReadAt(b, 5)
			require.Equal(t, tc.stored, b[0] == 9)
			require.EqualValues(t, 1, f.Writes())
			require.EqualValues(t, 1, f.Reads())
		})
	}
}

func TestFaultyHang(t *testing.T) {
	for _, release := range []string{"set", "close"} {
		t.Run(release, func(t *testing.T) {
			f := &Faulty{Device: NewMem(100)}
			f.Set(FaultHang)
			done := make(chan error, 1)
			go func() { _, err := f.WriteAt([]byte{1}, 0); done <- err }()
			select {
			case <-done:
				t.Fatal("write did not hang")
			case <-time.After(50 * time.Millisecond):
			}
			if release == "set" {
				f.Set(FaultNone)
			} else {
				require.NoError(t, f.Close())
			}
			select {
			case err := <-done:
				require.ErrorIs(t, err, ErrIO, "a hung request fails when released")
			case <-time.After(5 * time.Second):
				t.Fatal("write not released")
			}
		})
	}
}
