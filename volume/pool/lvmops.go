package pool

import (
	"context"

	"github.com/dlvm-project/dlvm/model"
)

// CreateLeg implements Pool: a thin LV, zero-filled because unprovisioned thin blocks read as
// zeros.
func (p *LVM) CreateLeg(ctx context.Context, id string, size int64) error {
	if err := validSize(size); err != nil {
		return err
	}
	if err := ValidID(id); err != nil {
		return err
	}
	defer p.keys.lock(id)()
	l, ok, err := p.lookup(ctx, id)
	if err != nil {
		return err
	}
	if ok {
		return p.existingLeg(ctx, l, size)
	}
	_, err = p.run(ctx, "lvcreate", "-y", "--wipesignatures", "y", "--setactivationskip", "n",
		"--thin", "-V", bytesArg(size), "-n", lvPrefix+id, p.vg+"/"+p.thin)
	if err != nil {
		return err
	}
	p.log.Debug("leg created", "leg_id", id, "size_bytes", size)
	return nil
}

// snapshot creates id as a thin snapshot of src with the given permission ("r" or "rw") and
// activates it. The activation also runs when id already exists, finishing an interrupted
// operation.
func (p *LVM) snapshot(ctx context.Context, id, srcID, perm string, exists bool) error {
	if !exists {
		if _, err := p.run(ctx, "lvcreate", "-y", "--snapshot", "--setactivationskip", "n",
			"--permission", perm, "-n", lvPrefix+id, p.lv(srcID)); err != nil {
			return err
		}
	}
	_, err := p.run(ctx, "lvchange", "-y", "--activate", "y", "--ignoreactivationskip", p.lv(id))
	return err
}

// CloneLeg implements Pool: a writable thin snapshot of the source, extended when bigger.
func (p *LVM) CloneLeg(ctx context.Context, id, srcID string, size int64) error {
	if err := validSize(size); err != nil {
		return err
	}
	if err := ValidID(id); err != nil {
		return err
	}
	if err := ValidID(srcID); err != nil {
		return err
	}
	defer p.keys.lock(id, srcID)()
	legs, err := p.list(ctx)
	if err != nil {
		return err
	}
	if l, ok := legs[id]; ok {
		if l.Snapshot {
			return model.Errorf(model.ErrConflict, "%s is a snapshot, not a leg", id)
		}
		if l.origin == lvPrefix+srcID && l.SizeBytes < size { // an interrupted clone: finish it
			if err := p.snapshot(ctx, id, srcID, "rw", true); err != nil {
				return err
			}
			return p.extend(ctx, id, size)
		}
		return p.existingLeg(ctx, l.LegInfo, size)
	}
	src, ok := legs[srcID]
	if !ok {
		return model.Errorf(model.ErrNotFound, "clone %s: source %s not found", id, srcID)
	}
	if size < src.SizeBytes {
		same, err := p.sameSize(ctx, src.SizeBytes, size)
		if err != nil {
			return err
		}
		if !same {
			return model.Errorf(model.ErrInvalid, "clone %s: size %d is smaller than source %s (%d)", id, size, srcID, src.SizeBytes)
		}
	}
	if err := p.snapshot(ctx, id, srcID, "rw", false); err != nil {
		return err
	}
	if size > src.SizeBytes {
		return p.extend(ctx, id, size)
	}
	return nil
}

// SnapshotLeg implements Pool: a read-only thin snapshot.
func (p *LVM) SnapshotLeg(ctx context.Context, id, srcID string) error {
	if err := ValidID(id); err != nil {
		return err
	}
	if err := ValidID(srcID); err != nil {
		return err
	}
	defer p.keys.lock(id, srcID)()
	legs, err := p.list(ctx)
	if err != nil {
		return err
	}
	if l, ok := legs[id]; ok {
		if !l.Snapshot {
			return model.Errorf(model.ErrConflict, "%s is a leg, not a snapshot", id)
		}
		return p.snapshot(ctx, id, srcID, "r", true)
	}
	if _, ok := legs[srcID]; !ok {
		return model.Errorf(model.ErrNotFound, "snapshot %s: source %s not found", id, srcID)
	}
	return p.snapshot(ctx, id, srcID, "r", false)
}

// ExtendLeg implements Pool.
func (p *LVM) ExtendLeg(ctx context.Context, id string, size int64) error {
	if err := validSize(size); err != nil {
		return err
	}
	if err := ValidID(id); err != nil {
		return err
	}
	defer p.keys.lock(id)()
	l, err := p.stat(ctx, id)
	if err != nil {
		return err
	}
	if l.Snapshot {
		return model.Errorf(model.ErrConflict, "%s is a snapshot and cannot be extended", id)
	}
	if l.SizeBytes >= size {
		return nil
	}
	return p.extend(ctx, id, size)
}

func (p *LVM) extend(ctx context.Context, id string, size int64) error {
	_, err := p.run(ctx, "lvextend", "-y", "-L", bytesArg(size), p.lv(id))
	return err
}

// DeleteLeg implements Pool.
func (p *LVM) DeleteLeg(ctx context.Context, id string) error {
	if err := ValidID(id); err != nil {
		return err
	}
	defer p.keys.lock(id)()
	_, ok, err := p.lookup(ctx, id)
	if err != nil || !ok {
		return err
	}
	_, err = p.run(ctx, "lvremove", "-y", "-f", p.lv(id))
	return err
}
