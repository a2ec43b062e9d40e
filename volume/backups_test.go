package volume

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/db/dbtest"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/backup"
)

// readMirror reads a volume's logical bytes through its stripe map from the legs of one mirror
// index only, so each mirror copy can be checked on its own.
func (r *rig) readMirror(volID string, mirror int, off, n int64) []byte {
	r.t.Helper()
	v := r.vol(volID)
	legs := r.legs(volID)
	out := make([]byte, 0, n)
	for done := int64(0); done < n; {
		g, loff, run := stripeMap(v.Layout, off+done)
		k := min(run, n-done)
		found := false
		for _, l := range legs {
			if l.Group == g && l.Mirror == mirror {
				buf := make([]byte, k)
				r.dpvs[l.DPVID].legs[l.ID].read(buf, loff)
				out = append(out, buf...)
				found = true
			}
		}
		require.True(r.t, found, "group %d has mirror %d", g, mirror)
		done += k
	}
	return out
}

// backupRig is a rig whose manager has a posix backup driver over a temporary directory.
func backupRig(t *testing.T, dialect string) (*rig, string) {
	t.Helper()
	r := newRig(t, dialect)
	root := t.TempDir()
	drv, err := backup.NewPosix(root, 256<<10)
	require.NoError(t, err)
	r.m.opts.Backup = drv
	return r, root
}

// newBackupRow inserts a backup of a volume as the service layer does (creating, quota held,
// volume backing-up) and returns the create_backup workflow id.
func (r *rig) newBackupRow(id, volID, snapID string) string {
	r.t.Helper()
	ctx := context.Background()
	v := r.vol(volID)
	b := &model.Backup{ID: id, ProjectID: testProject, VolumeID: volID, SnapshotID: snapID, Name: id, Container: "backups", Size: v.Size,
		Status: model.BackupCreating, ServiceMetadata: backup.Location("backups", id), Service: backup.ServiceName,
		DataTimestamp: time.Now().UTC(), Metadata: map[string]string{}}
	require.NoError(r.t, r.db.InTx(ctx, func(s *db.Store) error {
		if err := s.Reserve(ctx, testProject, BackupQuota(b, 1), nil); err != nil {
			return err
		}
		var err error
		if snapID != "" {
			err = s.SetSnapshotStatus(ctx, snapID, []string{model.StatusAvailable}, model.StatusBackingUp)
		} else {
			err = s.SetVolumeStatus(ctx, volID, []string{model.StatusAvailable}, model.StatusBackingUp)
		}
		if err != nil {
			return err
		}
		return s.CreateBackup(ctx, b)
	}))
	return r.workflow(model.WfCreateBackup, volID, "", BackupParams{BackupID: id, PrevStatus: model.StatusAvailable})
}

func (r *rig) backup(id string) *model.Backup {
	r.t.Helper()
	b, err := r.db.Store().GetBackup(context.Background(), id)
	require.NoError(r.t, err)
	return b
}

// restoreInto creates a new volume for a restore and runs create + restore; it returns the
// restore workflow.
func (r *rig) restoreInto(backupID, volID string, lay model.Layout) *model.Workflow {
	r.t.Helper()
	ctx := context.Background()
	create := r.volume(volID, 1, lay, "", "")
	require.NoError(r.t, r.db.Store().SetBackupStatus(ctx, backupID, []string{model.BackupAvailable}, model.BackupRestoring))
	restore := r.workflow(model.WfRestoreBackup, volID, "", BackupParams{BackupID: backupID, NewVolume: true})
	require.Equal(r.t, model.WfDone, r.run(create).State)
	return r.run(restore)
}

func TestBackups(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Run("backup and restore across geometries, every mirror", func(t *testing.T) { testBackupRestore(t, dialect) })
			t.Run("corrupt chunk fails the restore", func(t *testing.T) { testBackupCorrupt(t, dialect) })
			t.Run("snapshot and in-use sources", func(t *testing.T) { testBackupSources(t, dialect) })
		})
	}
}

// pattern fills the first MiBs of a volume with bytes that differ per 4 KiB, with a hole.
func backupPattern() []byte {
	p := make([]byte, 6<<20)
	for i := range p {
		if i >= 2<<20 && i < 3<<20 {
			continue // a whole chunk-sized hole in the middle
		}
		p[i] = byte(i*31 + i/4096 + 1)
	}
	return p
}

func testBackupRestore(t *testing.T, dialect string) {
	r, root := backupRig(t, dialect)
	ctx := context.Background()
	lay := model.Layout{Mirrors: 2, Stripes: 3, ChunkKiB: 64}
	require.Equal(t, model.WfDone, r.run(r.volume("src", 1, lay, "", "")).State)
	pat := backupPattern()
	r.writeLogical("src", 0, pat)
	tail := bytes.Repeat([]byte("end!"), 1024)
	r.writeLogical("src", 12<<20-1000, tail) // unaligned, across a chunk boundary
	require.NoError(t, r.db.Store().SetVolumeMetadata(ctx, "src", map[string]string{"k1": "v1", "k2": "v2"}, false))
	src := r.vol("src")
	src.Bootable = true
	require.NoError(t, r.db.Store().UpdateVolume(ctx, src))

	w := r.run(r.newBackupRow("b1", "src", ""))
	require.Equal(t, model.WfDone, w.State, w.Error)
	b := r.backup("b1")
	require.Equal(t, model.BackupAvailable, b.Status)
	// 6 MiB of pattern with a 1 MiB hole in 256 KiB chunks: 20 chunks, plus the tail's two.
	require.Equal(t, 22, b.ObjectCount)
	require.Equal(t, model.StatusAvailable, r.vol("src").Status, "the volume is back to its status")
	files, err := os.ReadDir(filepath.Join(root, "backups", "b1"))
	require.NoError(t, err)
	require.Len(t, files, 23, "chunks plus the manifest")

	// The source changes after the backup; the restore has the backup-time bytes.
	r.writeLogical("src", 0, bytes.Repeat([]byte{0xee}, 1<<20))

	dstLay := model.Layout{Mirrors: 2, Stripes: 2, ChunkKiB: 4}
	w = r.restoreInto("b1", "dst", dstLay)
	require.Equal(t, model.WfDone, w.State, w.Error)
	for mirror := 0; mirror < 2; mirror++ {
		require.Equal(t, pat, r.readMirror("dst", mirror, 0, int64(len(pat))), "mirror %d", mirror)
		require.Equal(t, tail, r.readMirror("dst", mirror, 12<<20-1000, int64(len(tail))), "mirror %d tail", mirror)
	}
	dst := r.vol("dst")
	require.Equal(t, model.StatusAvailable, dst.Status)
	require.True(t, dst.Bootable)
	require.Equal(t, "v1", dst.Metadata["k1"])
	require.Equal(t, "v2", dst.Metadata["k2"])
	require.Equal(t, model.BackupAvailable, r.backup("b1").Status)

	// Delete removes the files and releases the quota.
	require.NoError(t, r.db.Store().SetBackupStatus(ctx, "b1", nil, model.BackupDeleting))
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfDeleteBackup, "src", "", BackupParams{BackupID: "b1"})).State)
	_, err = r.db.Store().GetBackup(ctx, "b1")
	require.ErrorIs(t, err, model.ErrNotFound)
	_, err = os.Stat(filepath.Join(root, "backups", "b1"))
	require.True(t, os.IsNotExist(err))
	u, err := r.db.Store().QuotaUsages(ctx, testProject)
	require.NoError(t, err)
	require.Zero(t, u[model.ResBackups].InUse)
	require.Zero(t, u[model.ResBackupGigabytes].InUse)
}

func testBackupCorrupt(t *testing.T, dialect string) {
	r, root := backupRig(t, dialect)
	lay := model.Layout{Mirrors: 2, Stripes: 1, ChunkKiB: 512}
	r.run(r.volume("src", 1, lay, "", ""))
	r.writeLogical("src", 0, backupPattern())
	require.Equal(t, model.WfDone, r.run(r.newBackupRow("b1", "src", "")).State)

	f := filepath.Join(root, "backups", "b1", "chunk-000000000005")
	data, err := os.ReadFile(f)
	require.NoError(t, err)
	data[100] ^= 0xff
	require.NoError(t, os.WriteFile(f, data, 0o640))

	w := r.restoreInto("b1", "dst", lay)
	require.Equal(t, model.WfFailed, w.State)
	b := r.backup("b1")
	require.Equal(t, model.BackupError, b.Status)
	require.Contains(t, b.FailReason, "chunk-000000000005 at offset 1310720 fails its sha256 check")
	v := r.vol("dst")
	require.Equal(t, model.StatusErrorRestoring, v.Status)
	require.Equal(t, b.FailReason, v.ErrorReason)
	for _, l := range r.legs("dst") {
		require.Empty(t, r.dpvs[l.DPVID].legs[l.ID].data, "nothing was written to leg %s", l.ID)
	}
}

func testBackupSources(t *testing.T, dialect string) {
	r, _ := backupRig(t, dialect)
	ctx := context.Background()
	lay := model.Layout{Mirrors: 2, Stripes: 2, ChunkKiB: 64}
	r.run(r.volume("src", 1, lay, "", ""))
	old := backupPattern()
	r.writeLogical("src", 0, old)

	// A snapshot's backup has the snapshot-time bytes; the snapshot goes back to available.
	now := time.Now().UTC()
	require.NoError(t, r.db.Store().CreateSnapshot(ctx, &model.Snapshot{ID: "s1", ProjectID: testProject, VolumeID: "src", Size: 1,
		Status: model.StatusCreating, CreatedAt: now, UpdatedAt: now}))
	require.Equal(t, model.WfDone, r.run(r.workflow(model.WfCreateSnapshot, "src", "s1", nil)).State)
	r.writeLogical("src", 0, bytes.Repeat([]byte{0x77}, len(old)))
	wf := r.newBackupRow("bs", "src", "s1")
	require.Equal(t, model.WfDone, r.run(wf).State)
	require.Equal(t, model.StatusAvailable, r.vol("src").Status, "a snapshot's backup leaves the volume alone")
	sn, err := r.db.Store().GetSnapshot(ctx, "s1")
	require.NoError(t, err)
	require.Equal(t, model.StatusAvailable, sn.Status)
	require.Equal(t, model.WfDone, r.restoreInto("bs", "fromsnap", lay).State)
	require.Equal(t, old, r.readMirror("fromsnap", 1, 0, int64(len(old))))

	// An in-use volume is read from temporary snapshot legs, deleted afterwards, and goes back
	// to in-use.
	require.NoError(t, r.db.Store().SetVolumeStatus(ctx, "src", nil, model.StatusBackingUp))
	cur := r.readLogical("src", 0, int64(len(old)))
	b2 := &model.Backup{ID: "bu", ProjectID: testProject, VolumeID: "src", Container: "backups", Size: 1,
		Status: model.BackupCreating, ServiceMetadata: backup.Location("backups", "bu"), Service: backup.ServiceName}
	require.NoError(t, r.db.Store().CreateBackup(ctx, b2))
	w := r.run(r.workflow(model.WfCreateBackup, "src", "", BackupParams{BackupID: "bu", PrevStatus: model.StatusInUse}))
	require.Equal(t, model.WfDone, w.State, w.Error)
	require.Equal(t, model.StatusInUse, r.vol("src").Status)
	require.Empty(t, r.legs("bu"), "the temporary snapshot legs are gone")
	snaps := 0
	for _, d := range r.dpvs {
		for _, c := range d.calls {
			if bytes.HasPrefix([]byte(c), []byte("clone ")) {
				snaps++
			}
		}
	}
	require.Equal(t, 4+4, snaps, "s1's four legs, then the backup's four temporary ones")
	require.Equal(t, model.WfDone, r.restoreInto("bu", "fromuse", lay).State)
	require.Equal(t, cur, r.readMirror("fromuse", 0, 0, int64(len(old))))
}
