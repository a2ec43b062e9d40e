package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/model"
)

// LVM is a pool of thin LVs in one LVM thin pool. Leg and snapshot id X is the thin LV
// "dlvm-X" of the volume group; snapshots are thin snapshots created read-only (lv_attr
// permission 'r'), clones are writable thin snapshots. Every LV is created without the
// activation-skip flag and activated, so it has a device node at DevicePath and comes back
// active after a reboot.
//
// All commands run as `lvm <command> ...` through the runner, so one binary (the only one in
// minimal images) needs to be allowed. LVM rounds sizes up to whole extents; a leg whose size
// is within one extent above the requested size counts as the same size.
type LVM struct {
	vg, thin string
	r        runner.Runner
	opts     LVMOptions
	log      *slog.Logger
	keys     keyLock
}

// LVMOptions configure an LVM pool.
type LVMOptions struct {
	// DevDir is where LVM creates VG directories; default "/dev".
	DevDir string
	// Log receives debug records; nil discards them.
	Log *slog.Logger
}

var _ Pool = (*LVM)(nil)

// lvPrefix is the prefix of every LV this pool owns; LVs without it are ignored.
const lvPrefix = "dlvm-"

var lvmNameRE = regexp.MustCompile(`^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,126}$`)

// NewLVM returns a pool over thin pool thinPool of volume group vg. It runs no command.
func NewLVM(vg, thinPool string, r runner.Runner, opts LVMOptions) (*LVM, error) {
	for _, n := range []string{vg, thinPool} {
		if !lvmNameRE.MatchString(n) || n == "." || n == ".." {
			return nil, model.Errorf(model.ErrInvalid, "lvm pool: invalid VG or thin pool name %q", n)
		}
	}
	if r == nil {
		return nil, model.Errorf(model.ErrInvalid, "lvm pool: nil runner")
	}
	if opts.DevDir == "" {
		opts.DevDir = "/dev"
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LVM{vg: vg, thin: thinPool, r: r, opts: opts, log: log}, nil
}

// Type implements Pool.
func (p *LVM) Type() string { return "lvm" }

// DevicePath implements Pool: /dev/<vg>/dlvm-<id>.
func (p *LVM) DevicePath(id string) string {
	return p.opts.DevDir + "/" + p.vg + "/" + lvPrefix + id
}

func (p *LVM) lv(id string) string { return p.vg + "/" + lvPrefix + id }

func (p *LVM) run(ctx context.Context, args ...string) ([]byte, error) {
	out, err := p.r.Run(ctx, "lvm", args...)
	if err != nil {
		return out, fmt.Errorf("lvm pool %s/%s: %w", p.vg, p.thin, err)
	}
	return out, nil
}

// lvInfo is one LV as lvs reports it.
type lvInfo struct {
	LegInfo
	origin string // LV name of the snapshot origin, "" if none
}

// list returns this pool's LVs by id.
func (p *LVM) list(ctx context.Context) (map[string]lvInfo, error) {
	out, err := p.run(ctx, "lvs", "--noheadings", "--separator", "|", "--units", "b", "--nosuffix",
		"-o", "lv_name,lv_size,lv_attr,pool_lv,origin,data_percent", p.vg)
	if err != nil {
		return nil, err
	}
	legs := map[string]lvInfo{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(strings.TrimSpace(line), "|")
		if len(f) != 6 {
			continue
		}
		id, ok := strings.CutPrefix(f[0], lvPrefix)
		if !ok || ValidID(id) != nil || f[3] != p.thin {
			continue
		}
		size, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("lvm pool: lvs size %q: %w", f[1], err)
		}
		info := LegInfo{ID: id, SizeBytes: size, Snapshot: len(f[2]) > 1 && f[2][1] == 'r'}
		if pct, err := strconv.ParseFloat(f[5], 64); err == nil {
			info.AllocatedBytes = int64(pct / 100 * float64(size))
		}
		legs[id] = lvInfo{LegInfo: info, origin: f[4]}
	}
	return legs, nil
}

func (p *LVM) stat(ctx context.Context, id string) (LegInfo, error) {
	if err := ValidID(id); err != nil {
		return LegInfo{}, err
	}
	legs, err := p.list(ctx)
	if err != nil {
		return LegInfo{}, err
	}
	l, ok := legs[id]
	if !ok {
		return LegInfo{}, model.Errorf(model.ErrNotFound, "leg %s not found", id)
	}
	return l.LegInfo, nil
}

// Stat implements Pool.
func (p *LVM) Stat(ctx context.Context, id string) (LegInfo, error) { return p.stat(ctx, id) }

// ListLegs implements Pool.
func (p *LVM) ListLegs(ctx context.Context) ([]LegInfo, error) {
	legs, err := p.list(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]LegInfo, 0, len(legs))
	for _, l := range legs {
		out = append(out, l.LegInfo)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Stats implements Pool: Total is the thin pool's data size, Free its unused part, Provisioned
// the sum of this pool's leg and snapshot sizes.
func (p *LVM) Stats(ctx context.Context) (Stats, error) {
	s, err := p.Capacity(ctx)
	if err != nil {
		return Stats{}, err
	}
	legs, err := p.ListLegs(ctx)
	if err != nil {
		return Stats{}, err
	}
	s.ProvisionedBytes = provisioned(legs)
	return s, nil
}

// Capacity implements Pool: one lvs of the thin pool.
func (p *LVM) Capacity(ctx context.Context) (Stats, error) {
	out, err := p.run(ctx, "lvs", "--noheadings", "--separator", "|", "--units", "b", "--nosuffix",
		"-o", "lv_size,data_percent", p.vg+"/"+p.thin)
	if err != nil {
		return Stats{}, err
	}
	f := strings.Split(strings.TrimSpace(string(out)), "|")
	if len(f) != 2 {
		return Stats{}, fmt.Errorf("lvm pool: unexpected lvs output %q", out)
	}
	total, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return Stats{}, fmt.Errorf("lvm pool: lvs size %q: %w", f[0], err)
	}
	pct, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return Stats{}, fmt.Errorf("lvm pool: lvs data_percent %q: %w", f[1], err)
	}
	return Stats{TotalBytes: total, FreeBytes: total - int64(pct/100*float64(total))}, nil
}

// extentSize returns the VG's extent size in bytes.
func (p *LVM) extentSize(ctx context.Context) (int64, error) {
	out, err := p.run(ctx, "vgs", "--noheadings", "--units", "b", "--nosuffix", "-o", "vg_extent_size", p.vg)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("lvm pool: vgs extent size %q", out)
	}
	return n, nil
}

// sameSize reports whether an LV of have bytes is a leg of want bytes after extent rounding.
func (p *LVM) sameSize(ctx context.Context, have, want int64) (bool, error) {
	if have == want {
		return true, nil
	}
	if have < want {
		return false, nil
	}
	ext, err := p.extentSize(ctx)
	if err != nil {
		return false, err
	}
	return have-want < ext, nil
}

// existingLeg is the idempotency check of CreateLeg and CloneLeg.
func (p *LVM) existingLeg(ctx context.Context, l LegInfo, size int64) error {
	if l.Snapshot {
		return model.Errorf(model.ErrConflict, "%s is a snapshot, not a leg", l.ID)
	}
	same, err := p.sameSize(ctx, l.SizeBytes, size)
	if err != nil {
		return err
	}
	if !same {
		return model.Errorf(model.ErrConflict, "leg %s exists with size %d, not %d", l.ID, l.SizeBytes, size)
	}
	return nil
}

func bytesArg(n int64) string { return strconv.FormatInt(n, 10) + "b" }

// lookup returns id's LV, or ok=false.
func (p *LVM) lookup(ctx context.Context, id string) (LegInfo, bool, error) {
	l, err := p.stat(ctx, id)
	if errors.Is(err, model.ErrNotFound) {
		return LegInfo{}, false, nil
	}
	return l, err == nil, err
}
