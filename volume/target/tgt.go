package target

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dlvm-project/dlvm/internal/runner"
	"github.com/dlvm-project/dlvm/model"
)

// DefaultIQNPrefix names dlvm targets: the target of leg L is DefaultIQNPrefix + L.
const DefaultIQNPrefix = "iqn.2026-11.dev.dlvm:"

// tgtLUN is the LUN every leg is exported as (LUN 0 is tgtd's controller).
const tgtLUN = 1

// tgtadmNotConnected is tgtadm's exit code when no tgtd answers on the control port (ENOTCONN).
const tgtadmNotConnected = 107

// TgtOptions configure a Tgt.
type TgtOptions struct {
	// Portal is the "ip:port" initiators use to reach this tgtd (returned in Export).
	Portal string
	// Listen is the portal tgtd listens on when EnsureDaemon starts it; default Portal.
	Listen string
	// ControlPort is tgtd's management port (tgtd/tgtadm -C); several tgtds on one host need
	// distinct ones. 0 (tgtd's default) to 32767.
	ControlPort int
	// IQNPrefix prefixes leg ids into target IQNs; default DefaultIQNPrefix.
	IQNPrefix string
	// Runner runs tgtadm; default runner.Exec{}.
	Runner runner.Runner
	// Log receives the daemon's output and what Tgt does; nil discards.
	Log *slog.Logger
	// Daemon is the tgtd binary EnsureDaemon starts; default "tgtd".
	Daemon string
	// PingTimeout bounds the liveness check of EnsureDaemon and Watch; default 3s.
	PingTimeout time.Duration
}

// Tgt exports legs through a tgtd driven by tgtadm, one target per leg with the leg as LUN 1.
// ACLs are per initiator name; CHAP accounts are tgtd-wide users bound to targets (an account
// bound to a target makes CHAP mandatory on it). Safe for concurrent use: operations are
// serialized.
type Tgt struct {
	opts TgtOptions
	log  *slog.Logger

	mu      sync.Mutex                   // serializes tgtadm sequences (tid allocation)
	users   map[string]map[string]string // leg id -> initiator -> CHAP user (what Allow set)
	secrets map[string]string            // CHAP user -> secret last set by this Tgt

	dmu sync.Mutex // daemon state
	cmd *exec.Cmd  // the tgtd this Tgt started, nil when adopted or stopped
	// exited is closed when cmd exits.
	exited chan struct{}
}

var _ Target = (*Tgt)(nil)

// NewTgt returns a Tgt. It runs nothing: call EnsureDaemon to adopt or start tgtd.
func NewTgt(opts TgtOptions) *Tgt {
	if opts.IQNPrefix == "" {
		opts.IQNPrefix = DefaultIQNPrefix
	}
	if opts.Runner == nil {
		opts.Runner = runner.Exec{}
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Listen == "" {
		opts.Listen = opts.Portal
	}
	if opts.Daemon == "" {
		opts.Daemon = "tgtd"
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 3 * time.Second
	}
	return &Tgt{opts: opts, log: opts.Log, users: map[string]map[string]string{}, secrets: map[string]string{}}
}

var (
	legIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)
	// initiator names: iqn./eui./naa. forms; no spaces, no leading '-'.
	initiatorRE = regexp.MustCompile(`^(iqn|eui|naa)\.[A-Za-z0-9.:_-]{1,220}$`)
	chapRE      = regexp.MustCompile(`^[A-Za-z0-9._@+=/-]{1,255}$`)
)

func validLeg(id string) error {
	if !legIDRE.MatchString(id) {
		return model.Errorf(model.ErrInvalid, "invalid leg id %q", id)
	}
	return nil
}

// ValidAccess checks an Access before it reaches a command line: an iqn./eui./naa. initiator
// name, and either no CHAP or a user and secret of letters, digits and ._@+=/- (secret 12 to 255
// characters, as initiators commonly require).
func ValidAccess(a Access) error {
	if !initiatorRE.MatchString(a.InitiatorIQN) {
		return model.Errorf(model.ErrInvalid, "invalid initiator name %q", a.InitiatorIQN)
	}
	if a.CHAPUser == "" && a.CHAPSecret == "" {
		return nil
	}
	if !chapRE.MatchString(a.CHAPUser) || strings.HasPrefix(a.CHAPUser, "-") {
		return model.Errorf(model.ErrInvalid, "invalid CHAP user name %q", a.CHAPUser)
	}
	if !chapRE.MatchString(a.CHAPSecret) || len(a.CHAPSecret) < 12 || strings.HasPrefix(a.CHAPSecret, "-") {
		return model.Errorf(model.ErrInvalid, "invalid CHAP secret for %q: 12 to 255 letters, digits or ._@+=/-", a.CHAPUser)
	}
	return nil
}

// IQN is the target name of leg id.
func (t *Tgt) IQN(legID string) string { return t.opts.IQNPrefix + legID }

// Portal is the portal initiators use.
func (t *Tgt) Portal() string { return t.opts.Portal }

// adm runs tgtadm on this Tgt's control port. A tgtd that does not answer is ErrUnavailable.
// admTimeout bounds one tgtadm call; tgtd answers in milliseconds when it is alive.
const admTimeout = 10 * time.Second

func (t *Tgt) adm(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--lld", "iscsi", "-C", strconv.Itoa(t.opts.ControlPort)}, args...)
	// A hung tgtd blocks tgtadm forever; the deadline keeps the agent (and Watch, which must
	// notice the hang and replace tgtd) from hanging with it.
	ctx, cancel := context.WithTimeout(ctx, admTimeout)
	defer cancel()
	out, err := t.opts.Runner.Run(ctx, "tgtadm", full...)
	if err != nil {
		var ee *runner.ExitError
		if errors.As(err, &ee) && ee.Code == tgtadmNotConnected || ctx.Err() != nil {
			return string(out), model.Wrap(model.ErrUnavailable, err, "the iSCSI target daemon does not answer")
		}
		return string(out), err
	}
	return string(out), nil
}

func (t *Tgt) show(ctx context.Context) ([]tgtTarget, error) {
	out, err := t.adm(ctx, "--mode", "target", "--op", "show")
	if err != nil {
		return nil, err
	}
	return parseTgtShow(out)
}

// find returns the target named iqn in ts, or nil.
func find(ts []tgtTarget, iqn string) *tgtTarget {
	for i := range ts {
		if ts[i].IQN == iqn {
			return &ts[i]
		}
	}
	return nil
}

// Export implements Target: it creates the leg's target (lowest free tid) and LUN 1 backed by
// devicePath (bstype rdwr, files and block devices alike). Idempotent; an existing LUN 1 with
// another backing store is ErrConflict. A target it created is removed again if the LUN fails.
func (t *Tgt) Export(ctx context.Context, legID, devicePath string) (Export, error) {
	if err := validLeg(legID); err != nil {
		return Export{}, err
	}
	if devicePath == "" || strings.HasPrefix(devicePath, "-") {
		return Export{}, model.Errorf(model.ErrInvalid, "invalid device path %q", devicePath)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	iqn := t.IQN(legID)
	exp := Export{IQN: iqn, LUN: tgtLUN, Portal: t.opts.Portal}
	ts, err := t.show(ctx)
	if err != nil {
		return Export{}, err
	}
	tg := find(ts, iqn)
	created := false
	if tg == nil {
		tid := lowestFreeTID(ts)
		if _, err := t.adm(ctx, "--mode", "target", "--op", "new", "--tid", strconv.Itoa(tid), "--targetname", iqn); err != nil {
			return Export{}, fmt.Errorf("export leg %s: new target: %w", legID, err)
		}
		tg, created = &tgtTarget{TID: tid, IQN: iqn}, true
	}
	if path, ok := tg.LUNs[tgtLUN]; ok {
		if path != devicePath {
			return Export{}, model.Errorf(model.ErrConflict, "target %s already exports %s, not %s", iqn, path, devicePath)
		}
		return exp, nil
	}
	_, err = t.adm(ctx, "--mode", "logicalunit", "--op", "new", "--tid", strconv.Itoa(tg.TID),
		"--lun", strconv.Itoa(tgtLUN), "--backing-store", devicePath, "--bstype", "rdwr")
	if err != nil {
		err = fmt.Errorf("export leg %s: new LUN on %s: %w", legID, devicePath, err)
		if created {
			if _, uerr := t.adm(ctx, "--mode", "target", "--op", "delete", "--force", "--tid", strconv.Itoa(tg.TID)); uerr != nil {
				err = errors.Join(err, fmt.Errorf("undo new target %d: %w", tg.TID, uerr))
			}
		}
		return Export{}, err
	}
	t.log.Info("leg exported", "leg_id", legID, "target_iqn", iqn, "tid", tg.TID, "device_path", devicePath)
	return exp, nil
}

// Allow implements Target: binds the initiator name to the target and, with CHAP, creates the
// account (re-creating it when the secret is unknown to this Tgt or differs, and rebinding it
// wherever it was bound) and binds it. Missing target: ErrNotFound.
func (t *Tgt) Allow(ctx context.Context, legID string, a Access) error {
	if err := validLeg(legID); err != nil {
		return err
	}
	if err := ValidAccess(a); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ts, err := t.show(ctx)
	if err != nil {
		return err
	}
	tg := find(ts, t.IQN(legID))
	if tg == nil {
		return model.Errorf(model.ErrNotFound, "leg %s is not exported", legID)
	}
	tid := strconv.Itoa(tg.TID)
	if a.CHAPUser != "" {
		replaced, err := t.ensureAccount(ctx, ts, a.CHAPUser, a.CHAPSecret)
		if err != nil {
			return fmt.Errorf("allow %s on leg %s: %w", a.InitiatorIQN, legID, err)
		}
		if replaced { // the account was deleted and rebound: look again
			if ts, err = t.show(ctx); err != nil {
				return err
			}
			if tg = find(ts, t.IQN(legID)); tg == nil {
				return model.Errorf(model.ErrNotFound, "leg %s is not exported", legID)
			}
		}
		if !slices.Contains(tg.Accounts, a.CHAPUser) {
			if _, err := t.adm(ctx, "--mode", "account", "--op", "bind", "--tid", tid, "--user", a.CHAPUser); err != nil {
				return fmt.Errorf("allow %s on leg %s: bind account: %w", a.InitiatorIQN, legID, err)
			}
		}
	}
	if !slices.Contains(tg.ACLs, a.InitiatorIQN) {
		if _, err := t.adm(ctx, "--mode", "target", "--op", "bind", "--tid", tid, "--initiator-name", a.InitiatorIQN); err != nil {
			return fmt.Errorf("allow %s on leg %s: %w", a.InitiatorIQN, legID, err)
		}
	}
	if t.users[legID] == nil {
		t.users[legID] = map[string]string{}
	}
	t.users[legID][a.InitiatorIQN] = a.CHAPUser
	t.log.Info("initiator allowed", "leg_id", legID, "initiator", a.InitiatorIQN, "chap_user", a.CHAPUser)
	return nil
}

// ensureAccount makes tgtd's account user have secret. tgtd cannot show secrets, so an account
// this Tgt did not set (or set to another secret) is deleted, created again and rebound to the
// targets it was bound to; replaced reports that. The secret never appears in errors.
func (t *Tgt) ensureAccount(ctx context.Context, ts []tgtTarget, user, secret string) (replaced bool, err error) {
	out, err := t.adm(ctx, "--mode", "account", "--op", "show")
	if err != nil {
		return false, err
	}
	exists := slices.Contains(parseAccounts(out), user)
	if exists && t.secrets[user] == secret {
		return false, nil
	}
	var rebind []int
	if exists {
		for _, tg := range ts {
			if slices.Contains(tg.Accounts, user) {
				rebind = append(rebind, tg.TID)
			}
		}
		if _, err := t.adm(ctx, "--mode", "account", "--op", "delete", "--user", user); err != nil {
			return false, fmt.Errorf("replace account %s: %w", user, err)
		}
	}
	if _, err := t.adm(ctx, "--mode", "account", "--op", "new", "--user", user, "--password", secret); err != nil {
		return exists, fmt.Errorf("new account %s: %w", user, redact(err, secret))
	}
	t.secrets[user] = secret
	for _, tid := range rebind {
		if _, err := t.adm(ctx, "--mode", "account", "--op", "bind", "--tid", strconv.Itoa(tid), "--user", user); err != nil {
			return exists, fmt.Errorf("rebind account %s to tid %d: %w", user, tid, err)
		}
	}
	return exists, nil
}

// redact removes secret from the command line an error carries.
func redact(err error, secret string) error {
	var ee *runner.ExitError
	if errors.As(err, &ee) {
		c := *ee
		c.Cmd = strings.ReplaceAll(c.Cmd, secret, "***")
		return &c
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, "***"))
}

// List implements Target: the leg ids of the targets named with the IQN prefix, sorted.
func (t *Tgt) List(ctx context.Context) ([]string, error) {
	ts, err := t.show(ctx)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, tg := range ts {
		if id, ok := strings.CutPrefix(tg.IQN, t.opts.IQNPrefix); ok {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Initiators returns the initiator names allowed on leg legID's target (nil when it is not
// exported), for the agent's resync.
func (t *Tgt) Initiators(ctx context.Context, legID string) ([]string, error) {
	ts, err := t.show(ctx)
	if err != nil {
		return nil, err
	}
	if tg := find(ts, t.IQN(legID)); tg != nil {
		return tg.ACLs, nil
	}
	return nil, nil
}
