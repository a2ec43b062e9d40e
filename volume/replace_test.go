package volume

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/rpc"
	"github.com/dlvm-project/dlvm/volume/target"
)

func TestReplaceLostLegs(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Run("attached volume is resynced by its host", func(t *testing.T) { testReplaceAttached(t, dialect) })
			t.Run("unattached volume is copied from its mirror", func(t *testing.T) { testReplaceDetached(t, dialect) })
			t.Run("a restarted agent gets its exports back", func(t *testing.T) { testResyncOnRestart(t, dialect) })
			t.Run("a draining dpv gives its legs away", func(t *testing.T) { testDrain(t, dialect) })
		})
	}
}

// silence makes dpv id look silent for d (its heartbeat that old) and, when down, unreachable.
func (r *attachRig) silence(id string, d time.Duration, down bool) {
	r.t.Helper()
	ctx := context.Background()
	p, err := r.db.Store().GetDPV(ctx, id)
	require.NoError(r.t, err)
	p.HeartbeatAt = time.Now().UTC().Add(-d)
	require.NoError(r.t, r.db.Store().UpsertDPV(ctx, p))
	r.dpvs[id].setDown(down)
}

// replaceWorkflows runs the leg watch and returns the replace_leg workflows it started.
func (r *attachRig) watch() []*model.Workflow {
	r.t.Helper()
	r.m.WatchLegs(context.Background())
	wfs, err := r.db.Store().ListUnfinishedWorkflows(context.Background())
	require.NoError(r.t, err)
	var out []*model.Workflow
	for _, w := range wfs {
		if w.Kind == model.WfReplaceLeg {
			out = append(out, w)
		}
	}
	return out
}

func testReplaceAttached(t *testing.T, dialect string) {
	ctx := context.Background()
	r := newAttachRig(t, dialect)
	r.m.opts.LegReplaceAfter = time.Minute
	require.NoError(t, r.m.handle(ctx, rpc.MethodIHostHeartbeat,
		json.RawMessage(`{"host":"compute-1","url":"http://compute-1:8810","initiator":"iqn.1993-08.org.debian:01:c1"}`)))
	vol := r.available(model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512})
	a := r.attachment(vol, map[string]any{"host": "compute-1"})
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID})).State)
	legs := r.legs(vol)
	lost, kept := legs[1], legs[0]

	// Silent, but not yet for leg_replace_after: nothing happens.
	r.silence(lost.DPVID, 30*time.Second, true)
	require.Empty(t, r.watch())
	r.silence(lost.DPVID, 2*time.Minute, true)
	wfs := r.watch()
	require.Len(t, wfs, 1)
	require.Len(t, r.watch(), 1, "one replacement per leg")
	msgs, err := r.db.Store().ListMessages(ctx, db.MessageQuery{ResourceUUID: vol})
	require.NoError(t, err)
	require.Len(t, msgs, 1, "the owner is told the volume is being rebuilt")
	require.Equal(t, "VOLUME_VOLUME_900_900", msgs[0].EventID)
	w := r.run(wfs[0].ID)
	require.Equal(t, model.WfDone, w.State, w.Error)

	now := r.legs(vol)
	require.Len(t, now, 2)
	require.Equal(t, kept.ID, now[0].ID)
	nl := now[1]
	require.NotEqual(t, lost.ID, nl.ID)
	require.Equal(t, 0, nl.Group)
	require.Equal(t, 1, nl.Mirror)
	require.NotContains(t, []string{lost.DPVID, kept.DPVID}, nl.DPVID, "the new leg is on the third dpv")
	require.Equal(t, model.LegAvailable, nl.Status)
	require.Contains(t, r.dpvs[nl.DPVID].legs, nl.ID)
	require.Equal(t, []string{lost.ID + "->" + nl.ID}, r.host.replaced)
	require.Contains(t, r.dpvs[nl.DPVID].exports[nl.ID], "iqn.1993-08.org.debian:01:c1", "the new leg is exported to the host")
	require.Equal(t, model.StatusAttaching, r.vol(vol).Status, "the volume's status is untouched")

	// The retired leg is deleted once its dpv answers again.
	retired, err := r.db.Store().ListLegsByKind(ctx, model.OwnerRetired)
	require.NoError(t, err)
	require.Len(t, retired, 1)
	require.Empty(t, r.watch(), "a retired leg is not replaced again")
	require.Contains(t, r.dpvs[lost.DPVID].legs, lost.ID, "still there while its dpv is away")
	r.silence(lost.DPVID, 0, false)
	r.m.WatchLegs(ctx)
	require.NotContains(t, r.dpvs[lost.DPVID].legs, lost.ID)
	retired, err = r.db.Store().ListLegsByKind(ctx, model.OwnerRetired)
	require.NoError(t, err)
	require.Empty(t, retired)
}

func testReplaceDetached(t *testing.T, dialect string) {
	r := newAttachRig(t, dialect)
	r.m.opts.LegReplaceAfter = time.Minute
	vol := r.available(model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512})
	data := []byte("bytes that must survive the loss of a dpv")
	r.writeLogical(vol, 4096, data)
	lost := r.legs(vol)[0]
	r.silence(lost.DPVID, time.Hour, true)
	wfs := r.watch()
	require.Len(t, wfs, 1)
	w := r.run(wfs[0].ID)
	require.Equal(t, model.WfDone, w.State, w.Error)
	legs := r.legs(vol)
	require.NotEqual(t, lost.ID, legs[0].ID)
	buf := make([]byte, len(data))
	r.dpvs[legs[0].DPVID].legs[legs[0].ID].read(buf, 4096)
	require.Equal(t, data, buf, "the new leg was copied from the surviving mirror")
	require.Equal(t, model.StatusAvailable, r.vol(vol).Status)

	// Both legs of a group lost: nothing to rebuild from, no workflow.
	r.silence(legs[1].DPVID, time.Hour, true)
	r.silence(legs[0].DPVID, time.Hour, true)
	require.Empty(t, r.watch())
}

// A drained dpv is alive: its mirrored legs are replaced at once (no silence needed, even with
// leg_replace_after 0), heartbeats keep it draining, it gets no new leg, and the old legs are
// deleted from it once replaced.
func testDrain(t *testing.T, dialect string) {
	ctx := context.Background()
	r := newAttachRig(t, dialect)
	r.m.opts.LegReplaceAfter = 0
	vol := r.available(model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512})
	data := []byte("bytes that must leave a draining dpv")
	r.writeLogical(vol, 8192, data)
	leaving := r.legs(vol)[1]
	_, there := r.dpvs[leaving.DPVID].legs[leaving.ID]
	require.True(t, there)
	require.Empty(t, r.watch(), "nothing to do while every dpv is up")
	require.NoError(t, r.db.Store().SetDPVState(ctx, leaving.DPVID, model.DPVDraining))
	p, err := r.db.Store().GetDPV(ctx, leaving.DPVID)
	require.NoError(t, err)
	require.NoError(t, r.m.RecordHeartbeat(ctx, rpc.DPVHeartbeat{ID: p.ID, Name: p.Name, DVG: p.DVGID, URL: p.URL}))
	p, err = r.db.Store().GetDPV(ctx, leaving.DPVID)
	require.NoError(t, err)
	require.Equal(t, model.DPVDraining, p.State, "a heartbeat does not undo a drain")

	wfs := r.watch()
	require.Len(t, wfs, 1)
	w := r.run(wfs[0].ID)
	require.Equal(t, model.WfDone, w.State, w.Error)
	legs := r.legs(vol)
	require.Len(t, legs, 2)
	for _, l := range legs {
		require.NotEqual(t, leaving.DPVID, l.DPVID, "no leg left on the draining dpv")
	}
	buf := make([]byte, len(data))
	r.dpvs[legs[1].DPVID].legs[legs[1].ID].read(buf, 8192)
	require.Equal(t, data, buf, "the new leg has the bytes")
	r.m.WatchLegs(ctx)
	_, still := r.dpvs[leaving.DPVID].legs[leaving.ID]
	require.False(t, still, "the old leg is deleted from the draining dpv")
	require.Empty(t, r.watch(), "drained")
}

func testResyncOnRestart(t *testing.T, dialect string) {
	ctx := context.Background()
	r := newAttachRig(t, dialect)
	require.NoError(t, r.m.handle(ctx, rpc.MethodIHostHeartbeat,
		json.RawMessage(`{"host":"compute-1","url":"http://compute-1:8810","initiator":"iqn.1993-08.org.debian:01:c1"}`)))
	vol := r.available(model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512})
	a := r.attachment(vol, map[string]any{"host": "compute-1"})
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfAttachVolume, vol, "", model.AttachParams{AttachmentID: a.ID})).State)
	leg := r.legs(vol)[0]
	fd := r.dpvs[leg.DPVID]
	p, err := r.db.Store().GetDPV(ctx, leg.DPVID)
	require.NoError(t, err)
	beat := func(started time.Time) {
		require.NoError(t, r.m.RecordHeartbeat(ctx, rpc.DPVHeartbeat{ID: p.ID, Name: p.Name, DVG: p.DVGID, URL: p.URL, StartedAt: started}))
	}
	t0 := time.Now().UTC()
	beat(t0)
	beat(t0)
	time.Sleep(50 * time.Millisecond)
	require.Zero(t, fd.resyncCount(), "same agent run: no resync")
	fd.mu.Lock()
	fd.exports = map[string]map[string]target.Access{} // the dpv rebooted: tgtd lost its targets
	fd.mu.Unlock()
	beat(t0.Add(time.Minute))
	require.Eventually(t, func() bool { return fd.resyncCount() == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, fd.exported(), "the attached leg is exported again")
}
