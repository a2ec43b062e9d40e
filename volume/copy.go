package volume

import (
	"context"
	"fmt"

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
// layout, and says how many bytes from there stay inside the same chunk.
func stripeMap(lay model.Layout, off int64) (group int, legOff int64, run int64) {
	chunk := int64(lay.ChunkKiB) * 1024
	c := off / chunk
	group = int(c % int64(lay.Stripes))
	legOff = (c/int64(lay.Stripes))*chunk + off%chunk
	return group, legOff, chunk - off%chunk
}

// copyLogical copies n bytes of a source volume's address space into new legs of another
// geometry: each run is read from one available mirror of its source group and written to every
// mirror of its destination group.
func (m *Manager) copyLogical(ctx context.Context, dpvs map[string]*model.DPV, src *source, dst []*model.Leg, lay model.Layout, n int64) error {
	dstGroups := map[int][]*model.Leg{}
	for _, l := range dst {
		dstGroups[l.Group] = append(dstGroups[l.Group], l)
	}
	buf := make([]byte, int64(min(src.layout.ChunkKiB, lay.ChunkKiB))*1024)
	for off := int64(0); off < n; {
		sg, soff, srun := stripeMap(src.layout, off)
		dg, doff, drun := stripeMap(lay, off)
		k := min(srun, drun, n-off, int64(len(buf)))
		legs := src.group(sg)
		if len(legs) == 0 {
			return model.Errorf(model.ErrInvalid, "source group %d has no available leg", sg)
		}
		sag, err := m.agentFor(ctx, dpvs, legs[0].DPVID)
		if err != nil {
			return err
		}
		if _, err := sag.ReadAt(ctx, legs[0].ID, buf[:k], soff); err != nil {
			return fmt.Errorf("read leg %s: %w", legs[0].ID, err)
		}
		if !allZero(buf[:k]) {
			for _, d := range dstGroups[dg] {
				dag, err := m.agentFor(ctx, dpvs, d.DPVID)
				if err != nil {
					return err
				}
				if _, err := dag.WriteAt(ctx, d.ID, buf[:k], doff); err != nil {
					return fmt.Errorf("write leg %s: %w", d.ID, err)
				}
			}
		}
		off += k
	}
	return nil
}
