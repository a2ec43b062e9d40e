// Package kernel is the connector's kernel engine: it logs in to a volume's legs with
// iscsiadm (open-iscsi) and assembles them with device-mapper. Per group of a mirrored volume a
// dm-raid raid1 device with a write-intent bitmap, whose metadata (superblock + bitmap) sits in
// the last MetadataBytes of each leg and whose data is the leg from offset 0 (each carved by a
// dm linear "slot" device); an unmirrored group is a linear device over its leg. A striped
// device spans the groups and a linear device on top is the final /dev/mapper/dlvm-<volume>,
// the swap point. Device names:
//
//	dlvm-<vol>-g<i>-l<j>-meta / -data  linear slots of leg j of group i (mirrored volumes)
//	dlvm-<vol>-g<i>                    raid1 (or linear) group i
//	dlvm-<vol>-stripe                  striped over the groups
//	dlvm-<vol>                         linear, the final device
//
// Tables and command lines are pure functions, golden-tested; commands run through a
// runner.Runner, and the whole engine runs for real in the kernel tier (test/kernelconnector).
package kernel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/model"
)

// Options configure an Engine.
type Options struct {
	// Runner runs iscsiadm and dmsetup; default runner.Exec{}.
	Runner runner.Runner
	// Log receives what the engine does; nil discards.
	Log *slog.Logger
	// Poll is the interval between looks for a leg's block device; default 200ms.
	Poll time.Duration
	// DeviceTimeout bounds the wait for legs' block devices after login; default 30s.
	DeviceTimeout time.Duration
}

// Engine is the kernel engine. It remembers the plans it attached (Health, Extend and
// ReplaceLeg need them); after a restart, Attach again (idempotent) to adopt a volume.
// Operations are serialized.
type Engine struct {
	r    runner.Runner
	log  *slog.Logger
	opts Options

	mu   sync.Mutex
	vols map[string]*attached
}

type attached struct {
	plan  connector.Plan
	disks map[string]string // leg id -> /dev/sdX
}

var _ connector.Engine = (*Engine)(nil)

// New returns an Engine; it runs nothing.
func New(opts Options) *Engine {
	if opts.Runner == nil {
		opts.Runner = runner.Exec{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Poll == 0 {
		opts.Poll = 200 * time.Millisecond
	}
	if opts.DeviceTimeout == 0 {
		opts.DeviceTimeout = 30 * time.Second
	}
	return &Engine{r: opts.Runner, log: opts.Log, opts: opts, vols: map[string]*attached{}}
}

// TopName is the dm name of a volume's final device.
func TopName(vol string) string { return "dlvm-" + vol }

func stripeName(vol string) string       { return TopName(vol) + "-stripe" }
func groupName(vol string, g int) string { return fmt.Sprintf("%s-g%d", TopName(vol), g) }
func slotName(vol string, g, m int, kind string) string {
	return fmt.Sprintf("%s-l%d-%s", groupName(vol, g), m, kind)
}
func mapper(name string) string { return "/dev/mapper/" + name }

// run runs a command and returns its output and exit code (0 on success).
func (e *Engine) run(ctx context.Context, name string, args ...string) (string, int, error) {
	out, err := e.r.Run(ctx, name, args...)
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		return string(out), ee.Code, err
	}
	return string(out), 0, err
}

// iscsiadm runs iscsiadm, treating the listed exit codes as success (reported in ok=false).
func (e *Engine) iscsiadm(ctx context.Context, args []string, tolerate ...int) (string, bool, error) {
	out, code, err := e.run(ctx, "iscsiadm", args...)
	if err == nil {
		return out, true, nil
	}
	for _, c := range tolerate {
		if code == c {
			return out, false, nil
		}
	}
	return out, false, fmt.Errorf("iscsiadm: %w", err)
}

func (e *Engine) dmsetup(ctx context.Context, args ...string) (string, error) {
	out, _, err := e.run(ctx, "dmsetup", args...)
	if err != nil {
		return out, fmt.Errorf("dmsetup: %w", err)
	}
	return out, nil
}

// dmNames lists the device-mapper devices present.
func (e *Engine) dmNames(ctx context.Context) (map[string]bool, error) {
	out, err := e.dmsetup(ctx, "info", "-c", "--noheadings", "-o", "name")
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimSpace(l); l != "" && l != "No devices found" {
			names[l] = true
		}
	}
	return names, nil
}

// login creates the leg's node record with its CHAP settings and logs in. It reports whether
// this call created the session (an existing one is kept).
func (e *Engine) login(ctx context.Context, l connector.PlanLeg) (bool, error) {
	steps := append([][]string{NodeNewArgs(l), NodeUpdateArgs(l, "node.startup", "manual")}, AuthArgs(l)...)
	for _, a := range steps {
		if _, _, err := e.iscsiadm(ctx, a); err != nil {
			return false, fmt.Errorf("leg %s: %w", l.LegID, err)
		}
	}
	_, created, err := e.iscsiadm(ctx, LoginArgs(l), iscsiErrSessExists)
	if err != nil {
		return false, fmt.Errorf("leg %s: login: %w", l.LegID, err)
	}
	return created, nil
}

// logout logs out of a leg and deletes its node record; missing ones are fine.
func (e *Engine) logout(ctx context.Context, l connector.PlanLeg) error {
	if _, _, err := e.iscsiadm(ctx, LogoutArgs(l), iscsiErrNoObjects); err != nil {
		return fmt.Errorf("leg %s: logout: %w", l.LegID, err)
	}
	if _, _, err := e.iscsiadm(ctx, NodeDeleteArgs(l), iscsiErrNoObjects); err != nil {
		return fmt.Errorf("leg %s: delete node: %w", l.LegID, err)
	}
	return nil
}

// sessions lists the host's iSCSI sessions (none is not an error).
func (e *Engine) sessions(ctx context.Context) ([]Session, error) {
	out, _, err := e.iscsiadm(ctx, SessionArgs(), iscsiErrNoObjects)
	if err != nil {
		return nil, err
	}
	return ParseSessions(out), nil
}

// waitDisks waits until every leg's LUN shows up as a block device and returns them by leg id.
func (e *Engine) waitDisks(ctx context.Context, legs []connector.PlanLeg) (map[string]string, error) {
	deadline := time.Now().Add(e.opts.DeviceTimeout)
	for {
		ss, err := e.sessions(ctx)
		if err != nil {
			return nil, err
		}
		disks, missing := map[string]string{}, ""
		for _, l := range legs {
			if d := findDisk(ss, l); d != "" {
				disks[l.LegID] = d
			} else {
				missing = l.LegID
			}
		}
		if missing == "" {
			return disks, nil
		}
		if time.Now().After(deadline) {
			return nil, model.Errorf(model.ErrUnavailable, "leg %s: no block device after %s", missing, e.opts.DeviceTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(e.opts.Poll):
		}
	}
}

// Attach implements connector.Engine: login per leg, wait for the disks, then create the dm
// stack bottom-up. Idempotent: sessions and devices already present are kept (and adopted).
// On failure what this call created is removed again, top-down, and its logins undone.
func (e *Engine) Attach(ctx context.Context, p connector.Plan) (_ *connector.Attached, err error) {
	if _, _, err := legsOf(p); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	log := e.log.With("volume_id", p.VolumeID)
	var undo []func(context.Context) error
	defer func() {
		if err == nil {
			return
		}
		uctx := context.WithoutCancel(ctx)
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](uctx); uerr != nil {
				log.Warn("attach rollback step failed", "error", uerr)
				err = fmt.Errorf("%w (rollback incomplete: %v)", err, uerr)
			}
		}
	}()
	for _, l := range p.Legs {
		created, err := e.login(ctx, l)
		if err != nil {
			return nil, fmt.Errorf("attach %s: %w", p.VolumeID, err)
		}
		if created {
			undo = append(undo, func(ctx context.Context) error { return e.logout(ctx, l) })
		}
	}
	disks, err := e.waitDisks(ctx, p.Legs)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", p.VolumeID, err)
	}
	devs, err := stack(p, disks, nil)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", p.VolumeID, err)
	}
	have, err := e.dmNames(ctx)
	if err != nil {
		return nil, fmt.Errorf("attach %s: %w", p.VolumeID, err)
	}
	for i, d := range devs {
		if have[d.name] {
			continue
		}
		args := []string{"create", d.name}
		if p.ReadOnly && i == len(devs)-1 {
			args = append(args, "--readonly")
		}
		if _, err := e.dmsetup(ctx, append(args, "--table", d.table)...); err != nil {
			return nil, fmt.Errorf("attach %s: %w", p.VolumeID, err)
		}
		undo = append(undo, func(ctx context.Context) error { _, err := e.dmsetup(ctx, "remove", d.name); return err })
	}
	e.vols[p.VolumeID] = &attached{plan: p, disks: disks}
	log.Info("volume attached", "device", mapper(TopName(p.VolumeID)), "legs", len(p.Legs))
	return &connector.Attached{VolumeID: p.VolumeID, DevicePath: mapper(TopName(p.VolumeID))}, nil
}

// Detach implements connector.Engine: removes the dm devices top-down (a device still open,
// e.g. mounted, fails the detach with everything left in place), then logs out of the legs and
// deletes their node records. A volume not attached here is not an error; after a restart
// (plan unknown) only the dm devices are removed.
func (e *Engine) Detach(ctx context.Context, volumeID string) error {
	if !validVolume(volumeID) {
		return model.Errorf(model.ErrInvalid, "invalid volume id %q", volumeID)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	have, err := e.dmNames(ctx)
	if err != nil {
		return fmt.Errorf("detach %s: %w", volumeID, err)
	}
	var order []string
	top := TopName(volumeID)
	for _, rank := range []func(string) bool{
		func(n string) bool { return n == top },
		func(n string) bool { return n == stripeName(volumeID) },
		func(n string) bool {
			return strings.HasPrefix(n, top+"-g") && !strings.Contains(strings.TrimPrefix(n, top+"-g"), "-")
		},
		func(n string) bool {
			return strings.HasPrefix(n, top+"-g") && strings.Contains(strings.TrimPrefix(n, top+"-g"), "-l")
		},
	} {
		var level []string
		for n := range have {
			if rank(n) {
				level = append(level, n)
			}
		}
		sortStrings(level)
		order = append(order, level...)
	}
	for _, n := range order {
		if _, err := e.dmsetup(ctx, "remove", n); err != nil {
			return fmt.Errorf("detach %s: %w", volumeID, err)
		}
	}
	if st := e.vols[volumeID]; st != nil {
		for _, l := range st.plan.Legs {
			if err := e.logout(ctx, l); err != nil {
				return fmt.Errorf("detach %s: %w", volumeID, err)
			}
		}
	}
	delete(e.vols, volumeID)
	e.log.Info("volume detached", "volume_id", volumeID, "dm_devices", len(order))
	return nil
}
