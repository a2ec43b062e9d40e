// Package userspace is the connector's userspace engine: a Go iSCSI session per leg, mirrors
// (with a persistent write-intent bitmap) per group, a stripe over the groups, a quiesce gate on
// top, and the result exported as an NBD unix socket and as a loop device over a FUSE file. It is
// what runs on hosts without device-mapper or kernel iSCSI.
package userspace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/connector/assemble"
	"github.com/dlvm-project/dlvm/connector/blockdev"
	"github.com/dlvm-project/dlvm/connector/export"
	"github.com/dlvm-project/dlvm/connector/iscsi"
)

// Options configures the engine.
type Options struct {
	StateDir     string // bitmaps, NBD sockets and FUSE mounts live here
	InitiatorIQN string // this host's initiator name
	LoopDirectIO bool   // losetup --direct-io for the exported loop device
	NoLoop       bool   // export NBD only (hosts without FUSE or loop devices)
	ISCSI        iscsi.Options
	// LegTimeout fails a mirror leg whose request takes longer (a dead dpv or tgtd), so I/O goes
	// on with its partners instead of waiting out the iSCSI reconnect (default 3 s).
	LegTimeout time.Duration
	// RejoinInterval is how often failed legs are dialled again; one that answers is resynced
	// (only the regions written while it was away) and rejoins its mirror (default 2 s).
	RejoinInterval time.Duration
	Log            *slog.Logger
}

// Engine implements connector.Engine in userspace. Safe for concurrent use; operations on one
// volume are serialized.
type Engine struct {
	opts Options
	log  *slog.Logger

	mu   sync.Mutex
	vols map[string]*volume
}

var _ connector.Engine = (*Engine)(nil)

// New returns an engine keeping its state under opts.StateDir.
func New(opts Options) (*Engine, error) {
	if opts.StateDir == "" || opts.InitiatorIQN == "" {
		return nil, errors.New("userspace: StateDir and InitiatorIQN are required")
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, err
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.LegTimeout <= 0 {
		opts.LegTimeout = 3 * time.Second
	}
	if opts.RejoinInterval <= 0 {
		opts.RejoinInterval = 2 * time.Second
	}
	return &Engine{opts: opts, log: opts.Log, vols: map[string]*volume{}}, nil
}

// volume is one assembled volume.
type volume struct {
	mu     sync.Mutex
	plan   connector.Plan
	legs   map[string]*leg    // by leg id
	groups []*assemble.Mirror // nil entries when mirrors == 1
	top    blockdev.Device    // stripe or single group
	win    *window            // exactly the volume's size over top
	gate   *assemble.Gate
	nbd    *export.NBDServer
	loop   *export.Loop
	attach connector.Attached
	stop   chan struct{} // closed by close: ends the rejoin watcher
}

type leg struct {
	plan    connector.PlanLeg
	session *iscsi.Session
	state   string
	err     error
	full    bool // a replacement whose full resync has not completed: a rejoin copies everything
}

func (e *Engine) dir(volumeID string) string { return filepath.Join(e.opts.StateDir, volumeID) }

// Attach assembles the volume; see connector.Engine.
func (e *Engine) Attach(ctx context.Context, p connector.Plan) (*connector.Attached, error) {
	if err := validPlan(p); err != nil {
		return nil, err
	}
	e.mu.Lock()
	if v, ok := e.vols[p.VolumeID]; ok {
		e.mu.Unlock()
		a := v.attach
		return &a, nil
	}
	e.mu.Unlock()

	v, err := e.assemble(ctx, p)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if old, ok := e.vols[p.VolumeID]; ok { // lost a race with another Attach
		v.close(e.log)
		a := old.attach
		return &a, nil
	}
	e.vols[p.VolumeID] = v
	a := v.attach
	return &a, nil
}

func validPlan(p connector.Plan) error {
	if p.VolumeID == "" || p.Mirrors < 1 || p.Stripes < 1 || p.ChunkKiB <= 0 || len(p.Legs) != p.Mirrors*p.Stripes {
		return fmt.Errorf("userspace: plan for %q is not a %dx%d layout with %d legs", p.VolumeID, p.Stripes, p.Mirrors, len(p.Legs))
	}
	return nil
}

// assemble builds the stack bottom-up; on any failure it tears down what it built.
func (e *Engine) assemble(ctx context.Context, p connector.Plan) (_ *volume, err error) {
	v := &volume{plan: p, legs: map[string]*leg{}, stop: make(chan struct{})}
	defer func() {
		if err != nil {
			v.close(e.log)
		}
	}()
	dir := e.dir(p.VolumeID)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	byGroup := make([][]blockdev.Device, p.Stripes)
	legs := append([]connector.PlanLeg(nil), p.Legs...)
	sort.Slice(legs, func(i, j int) bool {
		if legs[i].Group != legs[j].Group {
			return legs[i].Group < legs[j].Group
		}
		return legs[i].Mirror < legs[j].Mirror
	})
	for _, pl := range legs {
		s, err := iscsi.Dial(ctx, e.target(pl), e.opts.ISCSI)
		if err != nil {
			return nil, fmt.Errorf("leg %s at %s: %w", pl.LegID, pl.Portal, err)
		}
		v.legs[pl.LegID] = &leg{plan: pl, session: s, state: "ok"}
		byGroup[pl.Group] = append(byGroup[pl.Group], s)
	}
	groups := make([]blockdev.Device, p.Stripes)
	v.groups = make([]*assemble.Mirror, p.Stripes)
	for g, devs := range byGroup {
		if len(devs) == 1 {
			groups[g] = devs[0]
			continue
		}
		m, err := e.mirror(ctx, v, g, devs)
		if err != nil {
			return nil, err
		}
		v.groups[g] = m
		groups[g] = m
	}
	v.top = groups[0]
	if p.Stripes > 1 {
		st, err := assemble.NewStripe(groups, int64(p.ChunkKiB)*1024)
		if err != nil {
			return nil, err
		}
		v.top = st
	}
	v.win = newWindow(v.top, p.SizeBytes)
	v.gate = assemble.NewGate(v.win)
	v.attach = connector.Attached{VolumeID: p.VolumeID}
	sock := filepath.Join(dir, "nbd.sock")
	if v.nbd, err = export.ServeNBD(context.WithoutCancel(ctx), v.gate, sock, export.NBDOptions{ExportName: p.VolumeID, ReadOnly: p.ReadOnly, Log: e.log}); err != nil {
		return nil, fmt.Errorf("nbd export: %w", err)
	}
	v.attach.NBDSocket = sock
	if !e.opts.NoLoop {
		mnt := filepath.Join(dir, "fuse")
		if err := os.MkdirAll(mnt, 0o700); err != nil {
			return nil, err
		}
		if v.loop, err = export.ExposeLoop(context.WithoutCancel(ctx), v.gate, export.LoopOptions{MountDir: mnt, DirectIO: e.opts.LoopDirectIO, ReadOnly: p.ReadOnly, Log: e.log}); err != nil {
			return nil, fmt.Errorf("loop export: %w", err)
		}
		v.attach.DevicePath = v.loop.Path()
	}
	go e.rejoin(v)
	e.log.Info("volume attached", "volume_id", p.VolumeID, "device_path", v.attach.DevicePath, "nbd_socket", sock, "legs", len(p.Legs))
	return v, nil
}

// mirror builds group g's mirror with a persistent bitmap and replays any dirty regions left by
// a previous host crash.
func (e *Engine) mirror(ctx context.Context, v *volume, g int, devs []blockdev.Device) (*assemble.Mirror, error) {
	var size int64 = -1
	for _, d := range devs {
		if size < 0 || d.Size() < size {
			size = d.Size()
		}
	}
	const region = 512 << 10
	bm, err := assemble.OpenFileBitmap(filepath.Join(e.dir(v.plan.VolumeID), fmt.Sprintf("g%d.bitmap", g)), (size+region-1)/region)
	if err != nil {
		return nil, err
	}
	// Slot i of the mirror is the group's leg of mirror index i (assemble adds them in that
	// order); the leg in a slot changes when it is replaced, so it is looked up each time.
	m, err := assemble.NewMirror(devs, assemble.MirrorOptions{RegionSize: region, Bitmap: bm, Log: e.log, IOTimeout: e.opts.LegTimeout,
		OnLegState: func(i int, st assemble.LegState, err error) {
			v.mu.Lock()
			defer v.mu.Unlock()
			l := v.slot(g, i)
			if l == nil {
				return
			}
			l.state, l.err = st.String(), err
			if st == assemble.LegOK {
				l.full = false
			}
			e.log.Warn("leg state changed", "volume_id", v.plan.VolumeID, "leg_id", l.plan.LegID, "state", l.state, "err", err)
		}})
	if err != nil {
		return nil, err
	}
	if err := m.RecoverDirty(ctx); err != nil {
		return nil, fmt.Errorf("group %d: resync of dirty regions: %w", g, err)
	}
	return m, nil
}

func (e *Engine) target(pl connector.PlanLeg) iscsi.Target {
	t := iscsi.Target{Portal: pl.Portal, IQN: pl.IQN, LUN: uint64(pl.LUN), InitiatorIQN: e.opts.InitiatorIQN}
	if pl.AuthMethod == "CHAP" {
		t.CHAPUser, t.CHAPSecret = pl.AuthUser, pl.AuthSecret
	}
	return t
}

// Detach flushes and tears the volume down; see connector.Engine.
func (e *Engine) Detach(ctx context.Context, volumeID string) error {
	e.mu.Lock()
	v, ok := e.vols[volumeID]
	delete(e.vols, volumeID)
	e.mu.Unlock()
	if !ok {
		return nil
	}
	err := v.close(e.log)
	if err == nil {
		_ = os.RemoveAll(e.dir(volumeID))
	}
	return err
}

// close tears down whatever exists, top-down, flushing first.
func (v *volume) close(log *slog.Logger) error {
	select {
	case <-v.stop:
	default:
		close(v.stop)
	}
	var errs []error
	if v.loop != nil {
		errs = append(errs, v.loop.Close(context.Background()))
	}
	if v.nbd != nil {
		errs = append(errs, v.nbd.Close())
	}
	if v.top != nil {
		errs = append(errs, v.top.Flush(), v.top.Close())
	}
	for _, l := range v.legs {
		if l.session != nil {
			errs = append(errs, l.session.Close())
		}
	}
	err := errors.Join(errs...)
	if err != nil {
		log.Warn("detach left errors", "volume_id", v.plan.VolumeID, "err", err)
	}
	return err
}

func (e *Engine) get(volumeID string) (*volume, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	v, ok := e.vols[volumeID]
	if !ok {
		return nil, fmt.Errorf("userspace: volume %s is not attached here", volumeID)
	}
	return v, nil
}

// Close detaches every volume this engine assembled (flushing each first). Its volumes cannot
// outlive the process that serves their FUSE files, so a stopping daemon removes them rather
// than leave dead loop devices behind.
func (e *Engine) Close() error {
	e.mu.Lock()
	ids := make([]string, 0, len(e.vols))
	for id := range e.vols {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	var errs []error
	for _, id := range ids {
		errs = append(errs, e.Detach(context.Background(), id))
	}
	return errors.Join(errs...)
}
