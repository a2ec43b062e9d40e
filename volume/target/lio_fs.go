package target

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FS is the small slice of a filesystem LIO needs to drive configfs. Paths are absolute. Errors
// wrap fs.ErrExist / fs.ErrNotExist where those apply, so callers can be idempotent.
type FS interface {
	// Mkdir creates one directory (configfs: creates a kernel object with its default groups).
	Mkdir(path string) error
	// WriteFile writes data to an existing attribute file in one write (no create, no truncate).
	WriteFile(path, data string) error
	// ReadFile reads an attribute file.
	ReadFile(path string) (string, error)
	// Symlink creates link pointing at target (configfs: binds two objects).
	Symlink(target, link string) error
	// Remove removes a file, a symlink or an empty directory.
	Remove(path string) error
	// ReadDir lists a directory's entries, sorted by name.
	ReadDir(path string) ([]fs.DirEntry, error)
	// Stat describes path, following symlinks.
	Stat(path string) (fs.FileInfo, error)
}

// OSFS is FS over the host's filesystem (configfs at /sys/kernel/config).
type OSFS struct{}

var _ FS = OSFS{}

// Mkdir implements FS.
func (OSFS) Mkdir(p string) error { return os.Mkdir(p, 0o755) }

// WriteFile implements FS: configfs attributes take one write of the whole value.
func (OSFS) WriteFile(p, data string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(data); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", p, err)
	}
	return f.Close()
}

// ReadFile implements FS.
func (OSFS) ReadFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

// Symlink implements FS.
func (OSFS) Symlink(target, link string) error { return os.Symlink(target, link) }

// Remove implements FS.
func (OSFS) Remove(p string) error { return os.Remove(p) }

// ReadDir implements FS.
func (OSFS) ReadDir(p string) ([]fs.DirEntry, error) { return os.ReadDir(p) }

// Stat implements FS.
func (OSFS) Stat(p string) (fs.FileInfo, error) { return os.Stat(p) }

// MemFS is an in-memory FS that records every mutating operation: the recording fake for LIO's
// golden tests. It models configfs loosely: parents of a created path appear implicitly (the
// kernel's default groups), attribute writes need no create, and a directory holding anything
// created explicitly (a directory or symlink) cannot be removed, so teardown order is checked.
// Safe for concurrent use.
type MemFS struct {
	// Root is trimmed from recorded paths to keep goldens short.
	Root string

	mu    sync.Mutex
	nodes map[string]*memNode
	ops   []string
	// Fail, when set, is consulted before each mutating operation ("mkdir PATH", ...) with the
	// root-relative op line; a non-nil error fails the operation.
	Fail func(op string) error
}

type memNode struct {
	mode     fs.FileMode // fs.ModeDir, fs.ModeSymlink, fs.ModeDevice or 0 (file)
	data     string
	size     int64
	explicit bool // created by Mkdir/Symlink (not a default group or attribute)
}

// AddDevice makes path exist as a block device (mode fs.ModeDevice) or a regular file of size.
func (m *MemFS) AddDevice(p string, block bool, size int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mode := fs.FileMode(0)
	if block {
		mode = fs.ModeDevice
	}
	m.put(p, &memNode{mode: mode, size: size})
}

// Ops returns the recorded operations, oldest first, with paths relative to Root.
func (m *MemFS) Ops() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.ops...)
}

// ResetOps forgets the recorded operations (the tree stays).
func (m *MemFS) ResetOps() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ops = nil
}

func (m *MemFS) rel(p string) string {
	if m.Root != "" && strings.HasPrefix(p, m.Root+"/") {
		return strings.TrimPrefix(p, m.Root+"/")
	}
	return p
}

func (m *MemFS) record(op string) error {
	if m.Fail != nil {
		if err := m.Fail(op); err != nil {
			return err
		}
	}
	m.ops = append(m.ops, op)
	return nil
}

func (m *MemFS) put(p string, n *memNode) {
	if m.nodes == nil {
		m.nodes = map[string]*memNode{}
	}
	for d := path.Dir(p); d != "/" && d != "."; d = path.Dir(d) {
		if _, ok := m.nodes[d]; !ok {
			m.nodes[d] = &memNode{mode: fs.ModeDir}
		}
	}
	m.nodes[p] = n
}

func pathErr(op, p string, err error) error { return &fs.PathError{Op: op, Path: p, Err: err} }

// Mkdir implements FS.
func (m *MemFS) Mkdir(p string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.nodes[p]; ok {
		return pathErr("mkdir", p, fs.ErrExist)
	}
	if err := m.record("mkdir " + m.rel(p)); err != nil {
		return err
	}
	m.put(p, &memNode{mode: fs.ModeDir, explicit: true})
	return nil
}

// WriteFile implements FS.
func (m *MemFS) WriteFile(p, data string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.nodes[p]; ok && n.mode&fs.ModeDir != 0 {
		return pathErr("write", p, syscall.EISDIR)
	}
	if err := m.record("write " + m.rel(p) + " = " + data); err != nil {
		return err
	}
	m.put(p, &memNode{data: data})
	return nil
}

// ReadFile implements FS.
func (m *MemFS) ReadFile(p string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[p]
	if !ok || n.mode != 0 {
		return "", pathErr("read", p, fs.ErrNotExist)
	}
	return n.data + "\n", nil
}

// Symlink implements FS.
func (m *MemFS) Symlink(target, link string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.nodes[link]; ok {
		return pathErr("symlink", link, fs.ErrExist)
	}
	if _, ok := m.nodes[target]; !ok {
		return pathErr("symlink", target, fs.ErrNotExist)
	}
	if err := m.record("symlink " + m.rel(link) + " -> " + m.rel(target)); err != nil {
		return err
	}
	m.put(link, &memNode{mode: fs.ModeSymlink, data: target, explicit: true})
	return nil
}

// Remove implements FS.
func (m *MemFS) Remove(p string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.nodes[p]; !ok {
		return pathErr("remove", p, fs.ErrNotExist)
	}
	var below []string
	for q, n := range m.nodes {
		if strings.HasPrefix(q, p+"/") {
			if n.explicit {
				return pathErr("remove", p, syscall.ENOTEMPTY)
			}
			below = append(below, q)
		}
	}
	if err := m.record("remove " + m.rel(p)); err != nil {
		return err
	}
	for _, q := range below {
		delete(m.nodes, q)
	}
	delete(m.nodes, p)
	return nil
}

// ReadDir implements FS.
func (m *MemFS) ReadDir(p string) ([]fs.DirEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.nodes[p]; !ok || n.mode&fs.ModeDir == 0 {
		return nil, pathErr("readdir", p, fs.ErrNotExist)
	}
	var out []fs.DirEntry
	for q, n := range m.nodes {
		if path.Dir(q) == p {
			out = append(out, fs.FileInfoToDirEntry(memInfo{name: path.Base(q), n: n}))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

// Stat implements FS.
func (m *MemFS) Stat(p string) (fs.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, ok := m.nodes[p]
	for i := 0; ok && n.mode&fs.ModeSymlink != 0 && i < 8; i++ {
		n, ok = m.nodes[n.data]
	}
	if !ok {
		return nil, pathErr("stat", p, fs.ErrNotExist)
	}
	return memInfo{name: path.Base(p), n: n}, nil
}

type memInfo struct {
	name string
	n    *memNode
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.n.size }
func (i memInfo) Mode() fs.FileMode  { return i.n.mode }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return i.n.mode&fs.ModeDir != 0 }
func (i memInfo) Sys() any           { return nil }

// ignore returns nil when err is one of the kinds an idempotent step may meet.
func ignore(err error, kinds ...error) error {
	for _, k := range kinds {
		if errors.Is(err, k) {
			return nil
		}
	}
	return err
}
