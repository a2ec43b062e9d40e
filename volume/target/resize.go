package target

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

// Resize implements Target. tgtd fixes a logical unit's size when it creates it and its
// "update" operation changes no size (tgt 1.0.x), so LUN 1 is deleted and created again over
// the same backing store, as Cinder's tgt helper does for an extend: the target, its ACLs,
// accounts and sessions stay; initiators get a REPORTED LUNS DATA HAS CHANGED unit attention.
// tgtd refuses to delete a LUN with commands in flight: that is retried a few times. When the
// new LUN cannot be created the error says so; Export (or the agent's resync) creates it again.
func (t *Tgt) Resize(ctx context.Context, legID, devicePath string) error {
	if err := validLeg(legID); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ts, err := t.show(ctx)
	if err != nil {
		return err
	}
	tg := find(ts, t.IQN(legID))
	if tg == nil {
		return nil
	}
	if have, ok := tg.LUNs[tgtLUN]; ok && have != devicePath {
		return model.Errorf(model.ErrConflict, "target %s exports %s, not %s", tg.IQN, have, devicePath)
	}
	tid, lun := strconv.Itoa(tg.TID), strconv.Itoa(tgtLUN)
	if _, ok := tg.LUNs[tgtLUN]; ok {
		if err := t.retryBusy(ctx, "--mode", "logicalunit", "--op", "delete", "--tid", tid, "--lun", lun); err != nil {
			return fmt.Errorf("resize leg %s: delete LUN: %w", legID, err)
		}
	}
	if err := t.retryBusy(ctx, "--mode", "logicalunit", "--op", "new", "--tid", tid, "--lun", lun,
		"--backing-store", devicePath, "--bstype", "rdwr"); err != nil {
		return fmt.Errorf("resize leg %s: LUN %s of target %s is gone and could not be created again: %w", legID, lun, tg.IQN, err)
	}
	t.log.Info("leg LUN re-created at its new size", "leg_id", legID, "tid", tg.TID, "device_path", devicePath)
	return nil
}

// retryBusy runs a tgtadm command, retrying failures (a logical unit busy with commands in
// flight) up to 5 times with a growing pause; a tgtd that does not answer is not retried.
func (t *Tgt) retryBusy(ctx context.Context, args ...string) error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
			}
		}
		if _, err = t.adm(ctx, args...); err == nil || errors.Is(err, model.ErrUnavailable) {
			return err
		}
	}
	return err
}

// Resize implements Target. An iblock storage object follows its block device's size (the
// kernel reads it on every READ CAPACITY): nothing to do. A fileio object over a regular file
// keeps the fd_dev_size it was configured with, so the file's current size is written to its
// control attribute. A missing storage object is success.
func (l *LIO) Resize(ctx context.Context, legID, devicePath string) error {
	if err := validLeg(legID); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	so := path.Join(l.opts.Root, "core", lioFileHBA, l.soName(legID))
	if _, err := l.fs.Stat(so); err != nil {
		return nil // not exported, or an iblock object that follows its device
	}
	st, err := l.fs.Stat(devicePath)
	if err != nil {
		return model.Wrap(model.ErrNotFound, err, fmt.Sprintf("lio: device %s of leg %s", devicePath, legID))
	}
	if st.Mode()&fs.ModeType != 0 {
		return model.Errorf(model.ErrInvalid, "lio: leg %s's fileio backstore is not a regular file", legID)
	}
	if err := l.write(path.Join(so, "control"), fmt.Sprintf("fd_dev_size=%d", st.Size())); err != nil {
		return fmt.Errorf("resize leg %s: %w", legID, err)
	}
	l.log.Info("lio: leg resized", "leg_id", legID, "size_bytes", st.Size())
	return nil
}
