package target

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/dlvm-project/dlvm/model"
)

// DefaultLIORoot is where configfs exposes the kernel target (LIO).
const DefaultLIORoot = "/sys/kernel/config/target"

// lioLUN is the LUN every leg is exported as, the same as with tgt. LIO accepts any LUN
// number in a TPG and answers REPORT LUNS through its virtual LUN 0, so initiators find LUN 1.
const lioLUN = 1

// LIO backstore HBAs dlvm uses: block devices go to iblock, regular files to fileio.
const (
	lioIBlockHBA = "iblock_0"
	lioFileHBA   = "fileio_1"
	lioLink      = "dlvm" // name of the symlinks dlvm creates inside LUN directories
)

// LIOOptions configure a LIO target.
type LIOOptions struct {
	// Root is the target directory in configfs; default DefaultLIORoot.
	Root string
	// Portal is the "ip:port" the target listens on and initiators use.
	Portal string
	// IQNPrefix prefixes leg ids into target IQNs; default DefaultIQNPrefix.
	IQNPrefix string
	// FS reaches configfs; default OSFS{}.
	FS FS
	// Log receives what LIO does; nil discards.
	Log *slog.Logger
}

// LIO exports legs through the kernel target (LIO) by writing configfs directly, as targetcli
// does: per leg an iblock (block device) or fileio (file) storage object "dlvm-<leg>", an iSCSI
// target IQNPrefix+leg with TPG 1, the storage object as LUN 1, a network portal, and one ACL per
// initiator carrying its CHAP account and mapping LUN 1. TPG attributes: authentication=1,
// generate_node_acls=0, demo_mode_write_protect=0. Operations are serialized.
type LIO struct {
	opts LIOOptions
	fs   FS
	log  *slog.Logger
	mu   sync.Mutex
}

var _ Target = (*LIO)(nil)

// NewLIO returns a LIO target. It touches nothing until the first call.
func NewLIO(opts LIOOptions) (*LIO, error) {
	if opts.Root == "" {
		opts.Root = DefaultLIORoot
	}
	if opts.IQNPrefix == "" {
		opts.IQNPrefix = DefaultIQNPrefix
	}
	if opts.FS == nil {
		opts.FS = OSFS{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	host, port, ok := strings.Cut(strings.TrimPrefix(opts.Portal, "["), "]:")
	if !ok {
		host, port, ok = strings.Cut(opts.Portal, ":")
	}
	if _, err := strconv.Atoi(port); !ok || host == "" || err != nil || strings.ContainsAny(opts.Portal, "/ ") {
		return nil, model.Errorf(model.ErrInvalid, "lio: invalid portal %q (want ip:port)", opts.Portal)
	}
	return &LIO{opts: opts, fs: opts.FS, log: opts.Log}, nil
}

// IQN is the target name of leg id.
func (l *LIO) IQN(legID string) string { return l.opts.IQNPrefix + legID }

func (l *LIO) tpg(legID string) string {
	return path.Join(l.opts.Root, "iscsi", l.IQN(legID), "tpgt_1")
}

func (l *LIO) soName(legID string) string { return "dlvm-" + legID }

func (l *LIO) mkdir(p string) error {
	if err := ignore(l.fs.Mkdir(p), fs.ErrExist); err != nil {
		return fmt.Errorf("lio: %w", err)
	}
	return nil
}

func (l *LIO) write(p, v string) error {
	if err := l.fs.WriteFile(p, v); err != nil {
		return fmt.Errorf("lio: %w", err)
	}
	return nil
}

func (l *LIO) remove(p string) error {
	if err := ignore(l.fs.Remove(p), fs.ErrNotExist); err != nil {
		return fmt.Errorf("lio: %w", err)
	}
	return nil
}

func (l *LIO) symlink(target, link string) error {
	if err := ignore(l.fs.Symlink(target, link), fs.ErrExist); err != nil {
		return fmt.Errorf("lio: %w", err)
	}
	return nil
}

// Export implements Target: storage object, target, TPG 1, LUN 1, portal, attributes, enable.
// Idempotent: existing objects are kept (an enabled storage object of the leg backed by another
// device is ErrConflict). A failed export may leave a partial target; Unexport removes it.
func (l *LIO) Export(ctx context.Context, legID, devicePath string) (Export, error) {
	if err := validLeg(legID); err != nil {
		return Export{}, err
	}
	if !strings.HasPrefix(devicePath, "/") || strings.ContainsAny(devicePath, ", \n") {
		return Export{}, model.Errorf(model.ErrInvalid, "lio: invalid device path %q", devicePath)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	so, err := l.ensureBackstore(legID, devicePath)
	if err != nil {
		return Export{}, err
	}
	tpg := l.tpg(legID)
	lun := path.Join(tpg, "lun", "lun_"+strconv.Itoa(lioLUN))
	steps := []func() error{
		func() error { return l.mkdir(path.Join(l.opts.Root, "iscsi")) },
		func() error { return l.mkdir(path.Dir(tpg)) },
		func() error { return l.mkdir(tpg) },
		func() error { return l.mkdir(lun) },
		func() error { return l.symlink(so, path.Join(lun, lioLink)) },
		func() error { return l.mkdir(path.Join(tpg, "np", l.opts.Portal)) },
		func() error { return l.write(path.Join(tpg, "attrib", "authentication"), "1") },
		func() error { return l.write(path.Join(tpg, "attrib", "generate_node_acls"), "0") },
		func() error { return l.write(path.Join(tpg, "attrib", "demo_mode_write_protect"), "0") },
		func() error { return l.write(path.Join(tpg, "enable"), "1") },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return Export{}, fmt.Errorf("export leg %s: %w", legID, err)
		}
	}
	l.log.Debug("lio: leg exported", "leg_id", legID, "device", devicePath, "iqn", l.IQN(legID))
	return Export{IQN: l.IQN(legID), LUN: lioLUN, Portal: l.opts.Portal}, nil
}

// ensureBackstore creates and enables the leg's storage object and returns its configfs path.
func (l *LIO) ensureBackstore(legID, devicePath string) (string, error) {
	st, err := l.fs.Stat(devicePath)
	if err != nil {
		return "", model.Wrap(model.ErrNotFound, err, fmt.Sprintf("lio: device %s of leg %s", devicePath, legID))
	}
	block := st.Mode()&fs.ModeDevice != 0 && st.Mode()&fs.ModeCharDevice == 0
	if !block && !st.Mode().IsRegular() {
		return "", model.Errorf(model.ErrInvalid, "lio: %s is neither a block device nor a file", devicePath)
	}
	hba, control := lioIBlockHBA, "udev_path="+devicePath
	if !block {
		hba, control = lioFileHBA, fmt.Sprintf("fd_dev_name=%s,fd_dev_size=%d", devicePath, st.Size())
	}
	for _, other := range []string{lioIBlockHBA, lioFileHBA} {
		if other != hba {
			if _, err := l.fs.Stat(path.Join(l.opts.Root, "core", other, l.soName(legID))); err == nil {
				return "", model.Errorf(model.ErrConflict, "lio: leg %s is exported from a %s backstore", legID, other)
			}
		}
	}
	so := path.Join(l.opts.Root, "core", hba, l.soName(legID))
	if en, err := l.fs.ReadFile(path.Join(so, "enable")); err == nil && strings.TrimSpace(en) == "1" {
		have, _ := l.fs.ReadFile(path.Join(so, "udev_path"))
		if strings.TrimSpace(have) != devicePath {
			return "", model.Errorf(model.ErrConflict, "lio: leg %s is exported from %s, not %s", legID, strings.TrimSpace(have), devicePath)
		}
		return so, nil
	}
	for _, s := range []func() error{
		func() error { return l.mkdir(path.Dir(so)) },
		func() error { return l.mkdir(so) },
		func() error { return l.write(path.Join(so, "control"), control) },
		func() error { return l.write(path.Join(so, "udev_path"), devicePath) },
		func() error { return l.write(path.Join(so, "enable"), "1") },
	} {
		if err := s(); err != nil {
			return "", fmt.Errorf("export leg %s: backstore: %w", legID, err)
		}
	}
	return so, nil
}

// Allow implements Target: the initiator's ACL with its CHAP account and LUN 1 mapped.
// Idempotent; allowing again rewrites the credentials. A missing target is ErrNotFound.
func (l *LIO) Allow(ctx context.Context, legID string, a Access) error {
	if err := validLeg(legID); err != nil {
		return err
	}
	if err := ValidAccess(a); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tpg := l.tpg(legID)
	if _, err := l.fs.Stat(tpg); err != nil {
		return model.Wrap(model.ErrNotFound, err, "lio: leg "+legID+" is not exported")
	}
	acl := path.Join(tpg, "acls", a.InitiatorIQN)
	mapped := path.Join(acl, "lun_"+strconv.Itoa(lioLUN))
	for _, s := range []func() error{
		func() error { return l.mkdir(acl) },
		func() error { return l.write(path.Join(acl, "auth", "userid"), a.CHAPUser) },
		func() error { return l.write(path.Join(acl, "auth", "password"), a.CHAPSecret) },
		func() error { return l.mkdir(mapped) },
		func() error {
			return l.symlink(path.Join(tpg, "lun", "lun_"+strconv.Itoa(lioLUN)), path.Join(mapped, lioLink))
		},
	} {
		if err := s(); err != nil {
			return fmt.Errorf("allow %s on leg %s: %w", a.InitiatorIQN, legID, err)
		}
	}
	l.log.Debug("lio: initiator allowed", "leg_id", legID, "initiator", a.InitiatorIQN)
	return nil
}

// Deny implements Target: unmaps the initiator's LUNs and removes its ACL, which ends its
// sessions. A missing target or ACL is not an error.
func (l *LIO) Deny(ctx context.Context, legID, initiatorIQN string) error {
	if err := validLeg(legID); err != nil {
		return err
	}
	if err := ValidAccess(Access{InitiatorIQN: initiatorIQN}); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.removeACL(path.Join(l.tpg(legID), "acls", initiatorIQN)); err != nil {
		return fmt.Errorf("deny %s on leg %s: %w", initiatorIQN, legID, err)
	}
	return nil
}

// removeACL removes an ACL's mapped LUNs (their links first) and then the ACL.
func (l *LIO) removeACL(acl string) error {
	if err := l.removeChildren(acl, "lun_"); err != nil {
		return err
	}
	return l.remove(acl)
}

// removeChildren removes every subdirectory of dir whose name starts with prefix, after
// removing the symlinks inside it. A missing dir is not an error.
func (l *LIO) removeChildren(dir, prefix string) error {
	ents, err := l.fs.ReadDir(dir)
	if err != nil {
		return ignore(err, fs.ErrNotExist)
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		sub := path.Join(dir, e.Name())
		inner, err := l.fs.ReadDir(sub)
		if err != nil && ignore(err, fs.ErrNotExist) != nil {
			return fmt.Errorf("lio: %w", err)
		}
		for _, in := range inner {
			if in.Type()&fs.ModeSymlink != 0 {
				if err := l.remove(path.Join(sub, in.Name())); err != nil {
					return err
				}
			}
		}
		if err := l.remove(sub); err != nil {
			return err
		}
	}
	return nil
}

// Unexport implements Target. Teardown order: disable the TPG, remove the ACLs (mapped LUN
// links, mapped LUNs, ACL), the LUNs (backstore links, LUN), the portals, the TPG, the target,
// then the storage object. A missing leg is not an error; a failure leaves the rest in place
// for a retry.
func (l *LIO) Unexport(ctx context.Context, legID string) error {
	if err := validLeg(legID); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	tpg := l.tpg(legID)
	wrap := func(err error) error { return fmt.Errorf("unexport leg %s: %w", legID, err) }
	if _, err := l.fs.Stat(tpg); err == nil {
		if err := l.write(path.Join(tpg, "enable"), "0"); err != nil {
			return wrap(err)
		}
		acls, err := l.fs.ReadDir(path.Join(tpg, "acls"))
		if err != nil && ignore(err, fs.ErrNotExist) != nil {
			return wrap(err)
		}
		for _, a := range acls {
			if a.IsDir() {
				if err := l.removeACL(path.Join(tpg, "acls", a.Name())); err != nil {
					return wrap(err)
				}
			}
		}
		if err := l.removeChildren(path.Join(tpg, "lun"), "lun_"); err != nil {
			return wrap(err)
		}
		if err := l.removeChildren(path.Join(tpg, "np"), ""); err != nil {
			return wrap(err)
		}
		if err := l.remove(tpg); err != nil {
			return wrap(err)
		}
	}
	if err := l.remove(path.Dir(tpg)); err != nil {
		return wrap(err)
	}
	for _, hba := range []string{lioIBlockHBA, lioFileHBA} {
		if err := l.remove(path.Join(l.opts.Root, "core", hba, l.soName(legID))); err != nil {
			return wrap(err)
		}
	}
	l.log.Debug("lio: leg unexported", "leg_id", legID)
	return nil
}

// List implements Target: the leg ids of the iSCSI targets named with IQNPrefix, sorted.
func (l *LIO) List(ctx context.Context) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ents, err := l.fs.ReadDir(path.Join(l.opts.Root, "iscsi"))
	if err != nil {
		if ignore(err, fs.ErrNotExist) == nil {
			return nil, nil
		}
		return nil, fmt.Errorf("lio: list: %w", err)
	}
	var legs []string
	for _, e := range ents {
		if id, ok := strings.CutPrefix(e.Name(), l.opts.IQNPrefix); ok && e.IsDir() && validLeg(id) == nil {
			legs = append(legs, id)
		}
	}
	sort.Strings(legs)
	return legs, nil
}
