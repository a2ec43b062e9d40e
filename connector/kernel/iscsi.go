package kernel

import (
	"bufio"
	"strconv"
	"strings"

	"github.com/dlvm-project/dlvm/connector"
)

// iscsiadm exit codes dlvm treats as "already done".
const (
	iscsiErrSessExists = 15 // ISCSI_ERR_SESS_EXISTS: already logged in
	iscsiErrNoObjects  = 21 // ISCSI_ERR_NO_OBJS_FOUND: no such node or session
)

func nodeArgs(l connector.PlanLeg) []string {
	return []string{"-m", "node", "-T", l.IQN, "-p", l.Portal}
}

// NodeNewArgs creates (or overwrites) the node record of a leg, without discovery.
func NodeNewArgs(l connector.PlanLeg) []string {
	return append(nodeArgs(l), "-o", "new")
}

// NodeUpdateArgs sets one setting of a leg's node record.
func NodeUpdateArgs(l connector.PlanLeg, name, value string) []string {
	return append(nodeArgs(l), "-o", "update", "-n", name, "-v", value)
}

// AuthArgs are the updates that set a leg's CHAP credentials (none when the leg has no auth).
func AuthArgs(l connector.PlanLeg) [][]string {
	if l.AuthMethod == "" {
		return nil
	}
	return [][]string{
		NodeUpdateArgs(l, "node.session.auth.authmethod", l.AuthMethod),
		NodeUpdateArgs(l, "node.session.auth.username", l.AuthUser),
		NodeUpdateArgs(l, "node.session.auth.password", l.AuthSecret),
	}
}

// LoginArgs logs in to a leg's target.
func LoginArgs(l connector.PlanLeg) []string { return append(nodeArgs(l), "--login") }

// LogoutArgs logs out of a leg's target.
func LogoutArgs(l connector.PlanLeg) []string { return append(nodeArgs(l), "--logout") }

// NodeDeleteArgs deletes a leg's node record.
func NodeDeleteArgs(l connector.PlanLeg) []string { return append(nodeArgs(l), "-o", "delete") }

// SessionArgs lists sessions with their attached SCSI disks.
func SessionArgs() []string { return []string{"-m", "session", "-P", "3"} }

// Session is one iSCSI session as `iscsiadm -m session -P 3` prints it.
type Session struct {
	IQN    string
	Portal string         // "ip:port", without the ",tpgt" suffix
	SID    int            // session id
	State  string         // iSCSI Session State, e.g. LOGGED_IN, FAILED, FREE
	Disks  map[int]string // LUN -> block device name ("sdb")
}

// ParseSessions parses `iscsiadm -m session -P 3`. Unknown lines are skipped.
func ParseSessions(out string) []Session {
	var ss []Session
	var iqn string
	lun := -1
	cur := func() *Session {
		if len(ss) == 0 {
			return nil
		}
		return &ss[len(ss)-1]
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "Target: "):
			iqn = strings.Fields(strings.TrimPrefix(line, "Target: "))[0]
		case strings.HasPrefix(line, "Current Portal: "):
			p, _, _ := strings.Cut(strings.TrimSpace(strings.TrimPrefix(line, "Current Portal: ")), ",")
			ss = append(ss, Session{IQN: iqn, Portal: p, Disks: map[int]string{}})
			lun = -1
		case strings.HasPrefix(line, "SID: "):
			if s := cur(); s != nil {
				s.SID, _ = strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "SID: ")))
			}
		case strings.HasPrefix(line, "iSCSI Session State: "):
			if s := cur(); s != nil {
				s.State = strings.TrimSpace(strings.TrimPrefix(line, "iSCSI Session State: "))
			}
		case strings.HasPrefix(line, "scsi") && strings.Contains(line, " Lun: "):
			_, n, _ := strings.Cut(line, " Lun: ")
			if v, err := strconv.Atoi(strings.Fields(n)[0]); err == nil {
				lun = v
			}
		case strings.HasPrefix(line, "Attached scsi disk "):
			f := strings.Fields(strings.TrimPrefix(line, "Attached scsi disk "))
			if s := cur(); s != nil && len(f) > 0 && lun >= 0 {
				s.Disks[lun] = f[0]
			}
		}
	}
	return ss
}

// findDisk returns the block device ("/dev/sdb") of a leg among sessions, or "".
func findDisk(ss []Session, l connector.PlanLeg) string {
	for _, s := range ss {
		if s.IQN == l.IQN && s.Portal == l.Portal {
			if d := s.Disks[l.LUN]; d != "" {
				return "/dev/" + d
			}
		}
	}
	return ""
}
