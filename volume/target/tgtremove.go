package target

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// Deny implements Target: unbinds the initiator name (so it cannot log in again), unbinds its
// CHAP account when no other initiator of the leg uses it (deleting the account once no
// target has it), then closes the initiator's sessions. Missing target or initiator: nil. An
// account this Tgt never saw allowed (adopted tgtd, before RestoreExports) stays bound.
func (t *Tgt) Deny(ctx context.Context, legID, initiatorIQN string) error {
	if err := validLeg(legID); err != nil {
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
		delete(t.users, legID)
		return nil
	}
	tid := strconv.Itoa(tg.TID)
	if slices.Contains(tg.ACLs, initiatorIQN) {
		if _, err := t.adm(ctx, "--mode", "target", "--op", "unbind", "--tid", tid, "--initiator-name", initiatorIQN); err != nil {
			return fmt.Errorf("deny %s on leg %s: %w", initiatorIQN, legID, err)
		}
	}
	user, known := t.users[legID][initiatorIQN]
	delete(t.users[legID], initiatorIQN)
	if known && user != "" && slices.Contains(tg.Accounts, user) && !t.userStillUsed(legID, user) {
		if err := t.dropAccount(ctx, ts, tg.TID, user); err != nil {
			return fmt.Errorf("deny %s on leg %s: %w", initiatorIQN, legID, err)
		}
	}
	// Sessions are read again now that the initiator can no longer log in: one that logged in
	// after the first read (a reconnecting initiator) is closed too.
	if ts, err = t.show(ctx); err != nil {
		return fmt.Errorf("deny %s on leg %s: %w", initiatorIQN, legID, err)
	}
	if tg = find(ts, t.IQN(legID)); tg != nil {
		if err := t.closeSessions(ctx, tg, initiatorIQN); err != nil {
			return fmt.Errorf("deny %s on leg %s: %w", initiatorIQN, legID, err)
		}
	}
	t.log.Info("initiator denied", "leg_id", legID, "initiator", initiatorIQN)
	return nil
}

func (t *Tgt) userStillUsed(legID, user string) bool {
	for _, u := range t.users[legID] {
		if u == user {
			return true
		}
	}
	return false
}

// dropAccount unbinds user from tid and deletes the account when no other target has it.
func (t *Tgt) dropAccount(ctx context.Context, ts []tgtTarget, tid int, user string) error {
	if _, err := t.adm(ctx, "--mode", "account", "--op", "unbind", "--tid", strconv.Itoa(tid), "--user", user); err != nil {
		return fmt.Errorf("unbind account %s: %w", user, err)
	}
	for _, o := range ts {
		if o.TID != tid && slices.Contains(o.Accounts, user) {
			return nil
		}
	}
	if _, err := t.adm(ctx, "--mode", "account", "--op", "delete", "--user", user); err != nil {
		return fmt.Errorf("delete account %s: %w", user, err)
	}
	delete(t.secrets, user)
	return nil
}

// closeSessions closes every connection of initiator ("" = all initiators) on tg.
func (t *Tgt) closeSessions(ctx context.Context, tg *tgtTarget, initiator string) error {
	for _, n := range tg.Nexus {
		if initiator != "" && n.Initiator != initiator {
			continue
		}
		for _, cid := range n.CIDs {
			_, err := t.adm(ctx, "--mode", "conn", "--op", "delete", "--tid", strconv.Itoa(tg.TID),
				"--sid", strconv.Itoa(n.SID), "--cid", strconv.Itoa(cid))
			if err != nil {
				return fmt.Errorf("close session %d of %s: %w", n.SID, n.Initiator, err)
			}
		}
	}
	return nil
}

// Unexport implements Target: unbinds every ACL and account (deleting accounts no other target
// has), closes all sessions, then deletes the target with --force. Missing target: nil.
func (t *Tgt) Unexport(ctx context.Context, legID string) error {
	if err := validLeg(legID); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	ts, err := t.show(ctx)
	if err != nil {
		return err
	}
	tg := find(ts, t.IQN(legID))
	delete(t.users, legID)
	if tg == nil {
		return nil
	}
	tid := strconv.Itoa(tg.TID)
	for _, acl := range tg.ACLs {
		if _, err := t.adm(ctx, "--mode", "target", "--op", "unbind", "--tid", tid, "--initiator-name", acl); err != nil {
			return fmt.Errorf("unexport leg %s: unbind %s: %w", legID, acl, err)
		}
	}
	for _, user := range tg.Accounts {
		if err := t.dropAccount(ctx, ts, tg.TID, user); err != nil {
			return fmt.Errorf("unexport leg %s: %w", legID, err)
		}
	}
	if err := t.closeSessions(ctx, tg, ""); err != nil {
		return fmt.Errorf("unexport leg %s: %w", legID, err)
	}
	if err := t.deleteTarget(ctx, tg); err != nil {
		return fmt.Errorf("unexport leg %s: %w", legID, err)
	}
	t.log.Info("leg unexported", "leg_id", legID, "tid", tg.TID)
	return nil
}

// deleteTarget deletes tg with --force. tgtd refuses while a logical unit is busy (a session
// closing): then it looks again, closes what is left and retries a few times.
func (t *Tgt) deleteTarget(ctx context.Context, tg *tgtTarget) error {
	var err error
	for attempt := range 4 {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
			ts, serr := t.show(ctx)
			if serr != nil {
				return errors.Join(err, serr)
			}
			if tg = find(ts, tg.IQN); tg == nil {
				return nil
			}
			if cerr := t.closeSessions(ctx, tg, ""); cerr != nil {
				return errors.Join(err, cerr)
			}
		}
		if _, err = t.adm(ctx, "--mode", "target", "--op", "delete", "--force", "--tid", strconv.Itoa(tg.TID)); err == nil {
			return nil
		}
	}
	return err
}
