package volume

import (
	"context"
	"fmt"
	"math"

	"github.com/dlvm-project/dlvm/model"
)

const copyBlock = 1 << 20

// copyBytes copies n bytes from src leg at srcOff to dst leg at dstOff through the agents, in
// 1 MiB blocks; all-zero blocks are skipped, since a new leg reads as zeros.
func copyBytes(ctx context.Context, src Agent, srcID string, dst Agent, dstID string, srcOff, dstOff, n int64) error {
	buf := make([]byte, copyBlock)
	for done := int64(0); done < n; {
		k := min(int64(len(buf)), n-done)
		got, err := src.ReadAt(ctx, srcID, buf[:k], srcOff+done)
		if err != nil {
			return fmt.Errorf("read leg %s at %d: %w", srcID, srcOff+done, err)
		}
		if got == 0 {
			break // source shorter than asked: the rest stays zero
		}
		if !allZero(buf[:got]) {
			if _, err := dst.WriteAt(ctx, dstID, buf[:got], dstOff+done); err != nil {
				return fmt.Errorf("write leg %s at %d: %w", dstID, dstOff+done, err)
			}
		}
		done += int64(got)
	}
	return nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// stripeMap maps a logical volume offset to (group, offset inside each leg of the group) for a
// layout, and says how many bytes from there stay contiguous in the same leg: the rest of the
// chunk, or everything when there is one group (an unstriped volume is its legs, byte for byte).
func stripeMap(lay model.Layout, off int64) (group int, legOff int64, run int64) {
	if lay.Stripes <= 1 {
		return 0, off, math.MaxInt64 - off
	}
	chunk := int64(lay.ChunkKiB) * 1024
	c := off / chunk
	group = int(c % int64(lay.Stripes))
	legOff = (c/int64(lay.Stripes))*chunk + off%chunk
	return group, legOff, chunk - off%chunk
}

// copyLogical copies n bytes of a source volume's address space into new legs of another
// geometry: each block is read from one available mirror of its source group and written to
// every mirror of its destination group; all-zero blocks are skipped (new legs read as zeros).
func (m *Manager) copyLogical(ctx context.Context, dpvs map[string]*model.DPV, src *source, dst []*model.Leg, lay model.Layout, n int64) error {
	buf := make([]byte, copyBlock)
	for off := int64(0); off < n; {
		k := min(n-off, int64(len(buf)))
		if err := m.readLogical(ctx, dpvs, src, buf[:k], off); err != nil {
			return err
		}
		if !allZero(buf[:k]) {
			if err := m.writeLogical(ctx, dpvs, dst, lay, buf[:k], off); err != nil {
				return err
			}
		}
		off += k
	}
	return nil
}

// readLogical fills p with the source's logical bytes at off, run by run through its stripe
// map; each run is read from the first available leg of its group that answers (a mirror that
// fails is skipped for the next one). A leg shorter than asked reads as zeros past its end.
func (m *Manager) readLogical(ctx context.Context, dpvs map[string]*model.DPV, src *source, p []byte, off int64) error {
	for done := int64(0); done < int64(len(p)); {
		g, legOff, run := stripeMap(src.layout, off+done)
		k := min(run, int64(len(p))-done)
		legs := src.group(g)
		if len(legs) == 0 {
			return model.Errorf(model.ErrInvalid, "source group %d has no available leg", g)
		}
		var err error
		for _, l := range legs {
			if err = m.readLeg(ctx, dpvs, l, p[done:done+k], legOff); err == nil {
				break
			}
		}
		if err != nil {
			return err
		}
		done += k
	}
	return nil
}

func (m *Manager) readLeg(ctx context.Context, dpvs map[string]*model.DPV, l *model.Leg, p []byte, off int64) error {
	ag, err := m.agentFor(ctx, dpvs, l.DPVID)
	if err != nil {
		return err
	}
	got, err := ag.ReadAt(ctx, l.ID, p, off)
	if err != nil {
		return fmt.Errorf("read leg %s: %w", l.ID, err)
	}
	clear(p[got:])
	return nil
}

// writeLogical writes p at logical offset off of a volume with layout lay: each run goes to
// every leg of its stripe group.
func (m *Manager) writeLogical(ctx context.Context, dpvs map[string]*model.DPV, legs []*model.Leg, lay model.Layout, p []byte, off int64) error {
	for done := int64(0); done < int64(len(p)); {
		g, legOff, run := stripeMap(lay, off+done)
		k := min(run, int64(len(p))-done)
		n := 0
		for _, l := range legs {
			if l.Group != g {
				continue
			}
			ag, err := m.agentFor(ctx, dpvs, l.DPVID)
			if err != nil {
				return err
			}
			if _, err := ag.WriteAt(ctx, l.ID, p[done:done+k], legOff); err != nil {
				return fmt.Errorf("write leg %s: %w", l.ID, err)
			}
			n++
		}
		if n == 0 {
			return model.Errorf(model.ErrInvalid, "target group %d has no leg", g)
		}
		done += k
	}
	return nil
}
