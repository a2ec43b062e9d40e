package kernel

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/model"
)

func sortStrings(s []string) { sort.Strings(s) }

func (e *Engine) lookup(volumeID string) (*attached, error) {
	st := e.vols[volumeID]
	if st == nil {
		return nil, model.Errorf(model.ErrNotFound, "volume %s is not attached by this engine", volumeID)
	}
	return st, nil
}

// raidStatus reads the dm-raid status of group i.
func (e *Engine) raidStatus(ctx context.Context, vol string, i int) (RaidStatus, error) {
	out, err := e.dmsetup(ctx, "status", groupName(vol, i))
	if err != nil {
		return RaidStatus{}, err
	}
	return ParseRaidStatus(strings.TrimSpace(out))
}

// reload loads a new table into a device and resumes it, which swaps the table in.
func (e *Engine) reload(ctx context.Context, d dmDev) error {
	if _, err := e.dmsetup(ctx, "reload", d.name, "--table", d.table); err != nil {
		return err
	}
	_, err := e.dmsetup(ctx, "resume", d.name)
	return err
}

// Extend implements connector.Engine: rescans the legs' sessions so the grown LUNs show their
// new size, then reloads every table bottom-up. A mirrored group is suspended while its slots
// move their metadata area to the legs' new end and is reloaded with fresh metadata, so dm-raid
// resyncs the whole group from its first leg: Extend therefore refuses (ErrConflict) unless every
// group is in sync. Growing to the current size is a no-op reload; shrinking is ErrInvalid.
// A failure midway leaves the devices resumed at a consistent (old or new) size per level.
func (e *Engine) Extend(ctx context.Context, p connector.Plan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.lookup(p.VolumeID)
	if err != nil {
		return err
	}
	if _, _, err := legsOf(p); err != nil {
		return err
	}
	if p.SizeBytes < st.plan.SizeBytes || p.Stripes != st.plan.Stripes || p.Mirrors != st.plan.Mirrors {
		return model.Errorf(model.ErrInvalid, "extend %s: plan shrinks or changes the layout", p.VolumeID)
	}
	if p.Mirrors > 1 {
		for i := 0; i < p.Stripes; i++ {
			rs, err := e.raidStatus(ctx, p.VolumeID, i)
			if err != nil {
				return fmt.Errorf("extend %s: %w", p.VolumeID, err)
			}
			if !rs.InSync() {
				return model.Errorf(model.ErrConflict, "extend %s: group %d is not in sync (%s %d/%d %s)", p.VolumeID, i, rs.Health, rs.Synced, rs.Total, rs.Action)
			}
		}
	}
	for _, l := range p.Legs {
		if _, _, err := e.iscsiadm(ctx, append(nodeArgs(l), "-R")); err != nil {
			return fmt.Errorf("extend %s: rescan leg %s: %w", p.VolumeID, l.LegID, err)
		}
	}
	devs, err := stack(p, st.disks, nil)
	if err != nil {
		return fmt.Errorf("extend %s: %w", p.VolumeID, err)
	}
	for _, d := range devs {
		if strings.HasSuffix(d.name, "-l0-meta") {
			// First slot of a group: suspend the raid so its metadata is written before it moves.
			group := strings.TrimSuffix(d.name, "-l0-meta")
			if _, err := e.dmsetup(ctx, "suspend", group); err != nil {
				return fmt.Errorf("extend %s: %w", p.VolumeID, err)
			}
		}
		if err := e.reload(ctx, d); err != nil {
			return fmt.Errorf("extend %s: %w", p.VolumeID, err)
		}
	}
	st.plan = p
	e.log.Info("volume extended", "volume_id", p.VolumeID, "size_bytes", p.SizeBytes)
	return nil
}

// ReplaceLeg implements connector.Engine: logs in to the new leg, suspends the old leg's raid1
// group, points the leg's slot devices at the new disk and reloads the group with "rebuild" of
// that slot, so dm-raid resyncs it online (Health reports it "resyncing" until done); then logs
// out of the old leg. Replacing a leg that is no longer in the volume but whose replacement is
// is a no-op. Unmirrored volumes cannot replace legs (ErrConflict). On failure after the
// suspend the group is resumed again.
func (e *Engine) ReplaceLeg(ctx context.Context, volumeID, old string, leg connector.PlanLeg) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.lookup(volumeID)
	if err != nil {
		return err
	}
	if st.plan.Mirrors < 2 {
		return model.Errorf(model.ErrConflict, "replace leg of %s: the volume is not mirrored", volumeID)
	}
	idx := -1
	for i, l := range st.plan.Legs {
		if l.LegID == leg.LegID && old != leg.LegID {
			return nil // already replaced
		}
		if l.LegID == old {
			idx = i
		}
	}
	if idx < 0 {
		return model.Errorf(model.ErrNotFound, "replace leg of %s: leg %s is not in the volume", volumeID, old)
	}
	oldLeg := st.plan.Legs[idx]
	leg.Group, leg.Mirror = oldLeg.Group, oldLeg.Mirror
	p := st.plan
	p.Legs = append([]connector.PlanLeg(nil), st.plan.Legs...)
	p.Legs[idx] = leg
	if _, _, err := legsOf(p); err != nil {
		return err
	}
	if _, err := e.login(ctx, leg); err != nil {
		return fmt.Errorf("replace leg of %s: %w", volumeID, err)
	}
	nd, err := e.waitDisks(ctx, []connector.PlanLeg{leg})
	if err != nil {
		return fmt.Errorf("replace leg of %s: %w", volumeID, err)
	}
	disks := map[string]string{}
	for k, v := range st.disks {
		disks[k] = v
	}
	disks[leg.LegID] = nd[leg.LegID]
	devs, err := stack(p, disks, map[int][]int{leg.Group: {leg.Mirror}})
	if err != nil {
		return fmt.Errorf("replace leg of %s: %w", volumeID, err)
	}
	group := groupName(volumeID, leg.Group)
	slot := groupName(volumeID, leg.Group) + "-l" + strconv.Itoa(leg.Mirror) + "-"
	if _, err := e.dmsetup(ctx, "suspend", group); err != nil {
		return fmt.Errorf("replace leg of %s: %w", volumeID, err)
	}
	for _, d := range devs {
		if strings.HasPrefix(d.name, slot) || d.name == group {
			if err := e.reload(ctx, d); err != nil {
				_, _ = e.dmsetup(context.WithoutCancel(ctx), "resume", group)
				return fmt.Errorf("replace leg of %s: %w", volumeID, err)
			}
		}
	}
	st.plan, st.disks = p, disks
	delete(st.disks, old)
	if err := e.logout(ctx, oldLeg); err != nil {
		e.log.Warn("replace leg: logout of the old leg failed", "volume_id", volumeID, "leg_id", old, "error", err)
	}
	e.log.Info("leg replaced", "volume_id", volumeID, "old_leg", old, "leg_id", leg.LegID)
	return nil
}

// Health implements connector.Engine from the raid1 groups' status: 'A' ok, 'a' resyncing, 'D'
// failed; the message carries the group's sync ratio and action. Legs of unmirrored groups
// report ok. A volume not attached here is ErrNotFound.
func (e *Engine) Health(ctx context.Context, volumeID string) ([]connector.LegHealth, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	st, err := e.lookup(volumeID)
	if err != nil {
		return nil, err
	}
	legs, _, err := legsOf(st.plan)
	if err != nil {
		return nil, err
	}
	var out []connector.LegHealth
	for i, ls := range legs {
		if st.plan.Mirrors == 1 {
			out = append(out, connector.LegHealth{LegID: ls[0].LegID, State: "ok"})
			continue
		}
		rs, err := e.raidStatus(ctx, volumeID, i)
		if err != nil {
			return nil, fmt.Errorf("health of %s: %w", volumeID, err)
		}
		if len(rs.Health) != len(ls) {
			return nil, model.Errorf(model.ErrConflict, "health of %s: group %d has %d devices, plan %d", volumeID, i, len(rs.Health), len(ls))
		}
		for j, l := range ls {
			out = append(out, connector.LegHealth{LegID: l.LegID, State: LegState(rs.Health[j]),
				Message: fmt.Sprintf("%d/%d %s", rs.Synced, rs.Total, rs.Action)})
		}
	}
	return out, nil
}

// Quiesce implements connector.Engine: suspends the final device (dm flushes in-flight I/O and
// freezes a filesystem mounted on it); new I/O waits until resume is called. resume is safe to
// call more than once; its failure is logged.
func (e *Engine) Quiesce(ctx context.Context, volumeID string) (func(), error) {
	if !validVolume(volumeID) {
		return nil, model.Errorf(model.ErrInvalid, "invalid volume id %q", volumeID)
	}
	top := TopName(volumeID)
	if _, err := e.dmsetup(ctx, "suspend", top); err != nil {
		return nil, fmt.Errorf("quiesce %s: %w", volumeID, err)
	}
	done := false
	return func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if done {
			return
		}
		done = true
		if _, err := e.dmsetup(context.WithoutCancel(ctx), "resume", top); err != nil {
			e.log.Error("resume after quiesce failed", "volume_id", volumeID, "error", err)
		}
	}, nil
}
