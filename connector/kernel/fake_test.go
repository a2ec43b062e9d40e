package kernel

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/internal/runner"
)

const mib = int64(1) << 20

// world models a host for the Recorder: iSCSI sessions (each with one disk at LUN 1) and dm
// devices, changed by the commands the engine runs.
type world struct {
	mu       sync.Mutex
	sessions []fakeSession
	dm       map[string]bool
	next     int
	status   map[string]string // dm name -> status line (default: in sync)
}

type fakeSession struct{ iqn, portal, disk string }

func newWorld() (*world, *runner.Recorder) {
	w := &world{dm: map[string]bool{}, status: map[string]string{}}
	return w, &runner.Recorder{Fallback: w.run}
}

func exitErr(line string, code int) error { return &runner.ExitError{Cmd: line, Code: code} }

func (w *world) run(line string) (string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := strings.Fields(line)
	arg := func(flag string) string {
		for i := range f[:len(f)-1] {
			if f[i] == flag {
				return f[i+1]
			}
		}
		return ""
	}
	find := func() int {
		for i, s := range w.sessions {
			if s.iqn == arg("-T") && s.portal == arg("-p") {
				return i
			}
		}
		return -1
	}
	switch {
	case strings.HasPrefix(line, "iscsiadm -m node") && strings.HasSuffix(line, "--login"):
		if find() >= 0 {
			return "", exitErr(line, iscsiErrSessExists)
		}
		w.sessions = append(w.sessions, fakeSession{arg("-T"), arg("-p"), fmt.Sprintf("sd%c", 'b'+w.next)})
		w.next++
	case strings.HasPrefix(line, "iscsiadm -m node") && strings.HasSuffix(line, "--logout"):
		i := find()
		if i < 0 {
			return "", exitErr(line, iscsiErrNoObjects)
		}
		w.sessions = append(w.sessions[:i], w.sessions[i+1:]...)
	case line == "iscsiadm -m session -P 3":
		if len(w.sessions) == 0 {
			return "", exitErr(line, iscsiErrNoObjects)
		}
		return w.sessionText(), nil
	case line == "dmsetup info -c --noheadings -o name":
		if len(w.dm) == 0 {
			return "No devices found\n", nil
		}
		var names []string
		for n := range w.dm {
			names = append(names, n)
		}
		sort.Strings(names)
		return strings.Join(names, "\n") + "\n", nil
	case strings.HasPrefix(line, "dmsetup create "):
		if w.dm[f[2]] {
			return "", exitErr(line, 1)
		}
		w.dm[f[2]] = true
	case strings.HasPrefix(line, "dmsetup remove "):
		if !w.dm[f[2]] {
			return "", exitErr(line, 1)
		}
		delete(w.dm, f[2])
	case strings.HasPrefix(line, "dmsetup status "):
		if s, ok := w.status[f[2]]; ok {
			return s + "\n", nil
		}
		return "0 65536 raid raid1 2 AA 65536/65536 idle 0 0 -\n", nil
	}
	return "", nil
}

func (w *world) sessionText() string {
	var b strings.Builder
	b.WriteString("iSCSI Transport Class version 2.0-870\nversion 2.1.8\n")
	for i, s := range w.sessions {
		fmt.Fprintf(&b, "Target: %s (non-flash)\n\tCurrent Portal: %s,1\n\tPersistent Portal: %s,1\n", s.iqn, s.portal, s.portal)
		fmt.Fprintf(&b, "\t\t**********\n\t\tInterface:\n\t\t**********\n\t\tIface Name: default\n\t\tSID: %d\n", i+1)
		b.WriteString("\t\tiSCSI Connection State: LOGGED IN\n\t\tiSCSI Session State: LOGGED_IN\n")
		b.WriteString("\t\t************************\n\t\tAttached SCSI devices:\n\t\t************************\n")
		fmt.Fprintf(&b, "\t\tHost Number: %d\tState: running\n\t\tscsi%d Channel 00 Id 0 Lun: 0\n", i+2, i+2)
		fmt.Fprintf(&b, "\t\tscsi%d Channel 00 Id 0 Lun: 1\n\t\t\tAttached scsi disk %s\t\tState: running\n", i+2, s.disk)
	}
	return b.String()
}

func (w *world) empty() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dm) == 0 && len(w.sessions) == 0
}

func testLeg(id string, g, m int, size int64) connector.PlanLeg {
	return connector.PlanLeg{LegID: id, Group: g, Mirror: m, SizeBytes: size,
		Portal: fmt.Sprintf("10.0.0.%d:3260", m+1), IQN: "iqn.2026-11.dev.dlvm:" + id, LUN: 1,
		AuthMethod: "CHAP", AuthUser: "host1", AuthSecret: "host1-secret-1234"}
}

// testPlan is a 64 MiB volume of the given layout with legs sized by LegBytes.
func testPlan(stripes, mirrors int) connector.Plan {
	p := connector.Plan{VolumeID: "vol1", SizeBytes: 64 * mib, Stripes: stripes, Mirrors: mirrors, ChunkKiB: 512}
	size, err := LegBytes(p)
	if err != nil {
		panic(err)
	}
	for g := range stripes {
		for m := range mirrors {
			p.Legs = append(p.Legs, testLeg(fmt.Sprintf("leg-g%d-m%d", g, m), g, m, size))
		}
	}
	return p
}
