package target

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
)

// tgtTarget is one target as `tgtadm --mode target --op show` prints it.
type tgtTarget struct {
	TID      int
	IQN      string
	Nexus    []tgtNexus
	LUNs     map[int]string // lun -> backing store path ("None" for the controller)
	Accounts []string       // incoming CHAP users bound to the target
	ACLs     []string       // initiator names (or addresses) allowed
}

// tgtNexus is one I_T nexus (session) and its connections.
type tgtNexus struct {
	SID       int
	Initiator string
	CIDs      []int
}

// parseTgtShow parses the output of `tgtadm --lld iscsi --mode target --op show`. Lines it
// does not know are skipped, so newer tgt versions that print more keep working.
func parseTgtShow(out string) ([]tgtTarget, error) {
	var (
		targets []tgtTarget
		cur     *tgtTarget
		section string
		lun     = -1
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "Target "); ok {
			num, name, found := strings.Cut(rest, ": ")
			tid, err := strconv.Atoi(num)
			if !found || err != nil {
				return nil, fmt.Errorf("tgtadm show: bad target line %q", line)
			}
			targets = append(targets, tgtTarget{TID: tid, IQN: strings.TrimSpace(name), LUNs: map[int]string{}})
			cur, section, lun = &targets[len(targets)-1], "", -1
			continue
		}
		if cur == nil {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		if indent <= 4 && strings.HasSuffix(trimmed, ":") {
			section = strings.TrimSuffix(trimmed, ":")
			continue
		}
		key, val, kv := strings.Cut(trimmed, ": ")
		if !kv && strings.HasSuffix(trimmed, ":") {
			key, kv = strings.TrimSuffix(trimmed, ":"), true
		}
		switch section {
		case "I_T nexus information":
			if err := cur.parseNexusLine(key, val, kv); err != nil {
				return nil, err
			}
		case "LUN information":
			switch key {
			case "LUN":
				n, err := strconv.Atoi(val)
				if err != nil {
					return nil, fmt.Errorf("tgtadm show: bad LUN line %q", line)
				}
				lun = n
				cur.LUNs[n] = ""
			case "Backing store path":
				if lun >= 0 {
					cur.LUNs[lun] = val
				}
			}
		case "Account information":
			name := strings.TrimSpace(strings.TrimSuffix(trimmed, "(outgoing)"))
			if !strings.HasSuffix(trimmed, "(outgoing)") && name != "" {
				cur.Accounts = append(cur.Accounts, name)
			}
		case "ACL information":
			cur.ACLs = append(cur.ACLs, trimmed)
		}
	}
	return targets, sc.Err()
}

func (t *tgtTarget) parseNexusLine(key, val string, kv bool) error {
	if !kv {
		return nil
	}
	switch key {
	case "I_T nexus":
		sid, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("tgtadm show: bad I_T nexus %q", val)
		}
		t.Nexus = append(t.Nexus, tgtNexus{SID: sid})
	case "Initiator":
		if len(t.Nexus) > 0 {
			name, _, _ := strings.Cut(val, " alias:")
			t.Nexus[len(t.Nexus)-1].Initiator = strings.TrimSpace(name)
		}
	case "Connection":
		cid, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("tgtadm show: bad connection %q", val)
		}
		if len(t.Nexus) > 0 {
			n := &t.Nexus[len(t.Nexus)-1]
			n.CIDs = append(n.CIDs, cid)
		}
	}
	return nil
}

// parseAccounts parses `tgtadm --mode account --op show`: "Account list:" then one user a line.
func parseAccounts(out string) []string {
	var users []string
	for line := range strings.Lines(out) {
		t := strings.TrimSpace(line)
		if t == "" || t == "Account list:" {
			continue
		}
		t = strings.TrimSpace(strings.TrimSuffix(t, "(outgoing)"))
		users = append(users, t)
	}
	return users
}

// lowestFreeTID is the smallest tid >= 1 no target uses.
func lowestFreeTID(ts []tgtTarget) int {
	used := map[int]bool{}
	for _, t := range ts {
		used[t.TID] = true
	}
	tid := 1
	for used[tid] {
		tid++
	}
	return tid
}
