package pool

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/dlvm-project/dlvm/model"
)

// File is a pool of sparse files under one directory:
//
//	<dir>/legs/<id>.img       writable legs
//	<dir>/snapshots/<id>.img  read-only snapshots (mode 0444)
//	<dir>/tmp/                half-built files; emptied by NewFile
//
// Every leg or snapshot is built under tmp/, synced, then renamed into place, so a crash never
// leaves a half leg under legs/ or snapshots/. Clones and snapshots use a reflink (FICLONE) when
// the filesystem supports it (btrfs, XFS) and a sparse-aware copy otherwise.
type File struct {
	dir  string
	opts FileOptions
	log  *slog.Logger
	keys keyLock
}

// FileOptions configure a File pool.
type FileOptions struct {
	// CapacityBytes, when > 0, caps what Stats advertises: Total is CapacityBytes and Free is
	// CapacityBytes less the space the legs use (never more than the filesystem's free
	// space). Several dpvs can so share one filesystem (all-in-one). Nothing is enforced.
	CapacityBytes int64
	// NoReflink forces the sparse copy path even where reflinks work (tests, benchmarks).
	NoReflink bool
	// Log receives debug and warning records; nil discards them.
	Log *slog.Logger
}

var _ Pool = (*File)(nil)

// NewFile opens (creating if needed) a file pool in dir and removes leftovers of interrupted
// operations.
func NewFile(dir string, opts FileOptions) (*File, error) {
	if dir == "" {
		return nil, model.Errorf(model.ErrInvalid, "file pool: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("file pool %s: %w", dir, err)
	}
	for _, sub := range []string{"legs", "snapshots", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o700); err != nil {
			return nil, fmt.Errorf("file pool: %w", err)
		}
	}
	tmp := filepath.Join(abs, "tmp")
	ents, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("file pool: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, e := range ents {
		log.Warn("removing leftover of an interrupted leg operation", "path", filepath.Join(tmp, e.Name()))
		if err := os.Remove(filepath.Join(tmp, e.Name())); err != nil {
			return nil, fmt.Errorf("file pool: %w", err)
		}
	}
	return &File{dir: abs, opts: opts, log: log}, nil
}

// Type implements Pool.
func (p *File) Type() string { return "file" }

func (p *File) legPath(id string) string  { return filepath.Join(p.dir, "legs", id+".img") }
func (p *File) snapPath(id string) string { return filepath.Join(p.dir, "snapshots", id+".img") }

// DevicePath implements Pool: the leg's or snapshot's file (the leg path when neither exists).
func (p *File) DevicePath(id string) string {
	if _, err := os.Stat(p.snapPath(id)); err == nil {
		return p.snapPath(id)
	}
	return p.legPath(id)
}

// stat finds id among legs and snapshots.
func (p *File) stat(id string) (LegInfo, string, error) {
	if err := ValidID(id); err != nil {
		return LegInfo{}, "", err
	}
	for _, c := range []struct {
		path string
		snap bool
	}{{p.legPath(id), false}, {p.snapPath(id), true}} {
		var st unix.Stat_t
		err := unix.Stat(c.path, &st)
		if errors.Is(err, unix.ENOENT) {
			continue
		}
		if err != nil {
			return LegInfo{}, "", fmt.Errorf("stat leg %s: %w", id, err)
		}
		return LegInfo{ID: id, SizeBytes: st.Size, AllocatedBytes: st.Blocks * 512, Snapshot: c.snap}, c.path, nil
	}
	return LegInfo{}, "", model.Errorf(model.ErrNotFound, "leg %s not found", id)
}

// Stat implements Pool.
func (p *File) Stat(_ context.Context, id string) (LegInfo, error) {
	info, _, err := p.stat(id)
	return info, err
}

// ListLegs implements Pool.
func (p *File) ListLegs(_ context.Context) ([]LegInfo, error) {
	var out []LegInfo
	for _, sub := range []string{"legs", "snapshots"} {
		ents, err := os.ReadDir(filepath.Join(p.dir, sub))
		if err != nil {
			return nil, fmt.Errorf("list legs: %w", err)
		}
		for _, e := range ents {
			id, ok := strings.CutSuffix(e.Name(), ".img")
			if !ok || ValidID(id) != nil {
				continue
			}
			info, _, err := p.stat(id)
			if errors.Is(err, model.ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				return nil, err
			}
			out = append(out, info)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Stats implements Pool: Total and Free of the directory's filesystem (Free as an unprivileged
// user sees it) unless capped by FileOptions.CapacityBytes, Provisioned the sum of leg and
// snapshot sizes.
func (p *File) Stats(ctx context.Context) (Stats, error) {
	legs, err := p.ListLegs(ctx)
	if err != nil {
		return Stats{}, err
	}
	s, err := p.capacity(legs)
	if err != nil {
		return Stats{}, err
	}
	s.ProvisionedBytes = provisioned(legs)
	return s, nil
}

// Capacity implements Pool: a statfs, plus a walk of the legs only under
// FileOptions.CapacityBytes (Free is then the cap less what the legs use).
func (p *File) Capacity(ctx context.Context) (Stats, error) {
	var legs []LegInfo
	if p.opts.CapacityBytes > 0 {
		var err error
		if legs, err = p.ListLegs(ctx); err != nil {
			return Stats{}, err
		}
	}
	return p.capacity(legs)
}

// capacity is Total and Free given the pool's legs (read only under a capacity cap).
func (p *File) capacity(legs []LegInfo) (Stats, error) {
	var fsst unix.Statfs_t
	if err := unix.Statfs(p.dir, &fsst); err != nil {
		return Stats{}, fmt.Errorf("statfs %s: %w", p.dir, err)
	}
	s := Stats{TotalBytes: int64(fsst.Blocks) * fsst.Bsize, FreeBytes: int64(fsst.Bavail) * fsst.Bsize}
	if c := p.opts.CapacityBytes; c > 0 {
		var used int64
		for _, l := range legs {
			used += l.AllocatedBytes
		}
		s.TotalBytes = c
		s.FreeBytes = max(0, min(s.FreeBytes, c-used))
	}
	return s, nil
}

// CreateLeg implements Pool.
func (p *File) CreateLeg(_ context.Context, id string, size int64) error {
	if err := validSize(size); err != nil {
		return err
	}
	if err := ValidID(id); err != nil {
		return err
	}
	defer p.keys.lock(id)()
	if info, _, err := p.stat(id); err == nil {
		return sameLeg(info, size)
	} else if !errors.Is(err, model.ErrNotFound) {
		return err
	}
	return p.build(id, p.legPath(id), func(f *os.File) error { return f.Truncate(size) })
}

// sameLeg is the idempotency check of CreateLeg and CloneLeg on an existing id.
func sameLeg(info LegInfo, size int64) error {
	switch {
	case info.Snapshot:
		return model.Errorf(model.ErrConflict, "%s is a snapshot, not a leg", info.ID)
	case info.SizeBytes != size:
		return model.Errorf(model.ErrConflict, "leg %s exists with size %d, not %d", info.ID, info.SizeBytes, size)
	}
	return nil
}

// build creates a temporary file, lets fill write it, syncs it and renames it to final.
func (p *File) build(id, final string, fill func(f *os.File) error) (err error) {
	f, err := os.CreateTemp(filepath.Join(p.dir, "tmp"), id+".*")
	if err != nil {
		return fmt.Errorf("leg %s: %w", id, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err = fill(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("leg %s: sync: %w", id, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("leg %s: %w", id, err)
	}
	if err = os.Rename(f.Name(), final); err != nil {
		return fmt.Errorf("leg %s: %w", id, err)
	}
	if err := syncDir(filepath.Dir(final)); err != nil {
		return err
	}
	p.log.Debug("leg created", "leg_id", id, "path", final)
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// CloneLeg implements Pool.
func (p *File) CloneLeg(ctx context.Context, id, srcID string, size int64) error {
	if err := validSize(size); err != nil {
		return err
	}
	if err := ValidID(id); err != nil {
		return err
	}
	defer p.keys.lock(id, srcID)()
	if info, _, err := p.stat(id); err == nil {
		return sameLeg(info, size)
	} else if !errors.Is(err, model.ErrNotFound) {
		return err
	}
	src, srcPath, err := p.stat(srcID)
	if err != nil {
		return err
	}
	if size < src.SizeBytes {
		return model.Errorf(model.ErrInvalid, "clone %s: size %d is smaller than source %s (%d)", id, size, srcID, src.SizeBytes)
	}
	return p.build(id, p.legPath(id), func(f *os.File) error {
		if err := p.copyFile(ctx, f, srcPath); err != nil {
			return fmt.Errorf("clone %s from %s: %w", id, srcID, err)
		}
		return f.Truncate(size)
	})
}

// SnapshotLeg implements Pool.
func (p *File) SnapshotLeg(ctx context.Context, id, srcID string) error {
	if err := ValidID(id); err != nil {
		return err
	}
	defer p.keys.lock(id, srcID)()
	if info, _, err := p.stat(id); err == nil {
		if !info.Snapshot {
			return model.Errorf(model.ErrConflict, "%s is a leg, not a snapshot", id)
		}
		return nil
	} else if !errors.Is(err, model.ErrNotFound) {
		return err
	}
	_, srcPath, err := p.stat(srcID)
	if err != nil {
		return err
	}
	return p.build(id, p.snapPath(id), func(f *os.File) error {
		if err := p.copyFile(ctx, f, srcPath); err != nil {
			return fmt.Errorf("snapshot %s of %s: %w", id, srcID, err)
		}
		return f.Chmod(0o444)
	})
}

// ExtendLeg implements Pool.
func (p *File) ExtendLeg(_ context.Context, id string, size int64) error {
	if err := validSize(size); err != nil {
		return err
	}
	if err := ValidID(id); err != nil {
		return err
	}
	defer p.keys.lock(id)()
	info, path, err := p.stat(id)
	if err != nil {
		return err
	}
	if info.Snapshot {
		return model.Errorf(model.ErrConflict, "%s is a snapshot and cannot be extended", id)
	}
	if info.SizeBytes >= size {
		return nil
	}
	if err := os.Truncate(path, size); err != nil {
		return fmt.Errorf("extend leg %s: %w", id, err)
	}
	return nil
}

// DeleteLeg implements Pool.
func (p *File) DeleteLeg(_ context.Context, id string) error {
	if err := ValidID(id); err != nil {
		return err
	}
	defer p.keys.lock(id)()
	for _, path := range []string{p.legPath(id), p.snapPath(id)} {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete leg %s: %w", id, err)
		}
	}
	return nil
}
