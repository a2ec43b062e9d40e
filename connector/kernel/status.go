package kernel

import (
	"strconv"
	"strings"

	"github.com/dlvm-project/dlvm/model"
)

// RaidStatus is a dm-raid status line (`dmsetup status`):
//
//	0 <len> raid raid1 <#devs> <health chars> <synced>/<total> <sync action> <mismatches> ...
type RaidStatus struct {
	Health string // one char per device: 'A' alive and in sync, 'a' alive not in sync, 'D' dead
	Synced int64  // sectors in sync
	Total  int64
	Action string // idle, frozen, resync, recover, check, repair, reshape
}

// InSync reports whether every device is alive and in sync and no resync runs.
func (s RaidStatus) InSync() bool {
	return strings.Trim(s.Health, "A") == "" && s.Synced == s.Total && s.Action == "idle"
}

// ParseRaidStatus parses the status line of a raid target.
func ParseRaidStatus(line string) (RaidStatus, error) {
	f := strings.Fields(line)
	if len(f) < 8 || f[2] != "raid" {
		return RaidStatus{}, model.Errorf(model.ErrInvalid, "not a dm-raid status: %q", line)
	}
	n, err := strconv.Atoi(f[4])
	if err != nil || len(f[5]) != n {
		return RaidStatus{}, model.Errorf(model.ErrInvalid, "dm-raid status: bad device count in %q", line)
	}
	a, b, ok := strings.Cut(f[6], "/")
	synced, err1 := strconv.ParseInt(a, 10, 64)
	total, err2 := strconv.ParseInt(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return RaidStatus{}, model.Errorf(model.ErrInvalid, "dm-raid status: bad sync ratio in %q", line)
	}
	return RaidStatus{Health: f[5], Synced: synced, Total: total, Action: f[7]}, nil
}

// LegState maps a health char to connector.LegHealth's state.
func LegState(c byte) string {
	switch c {
	case 'A':
		return "ok"
	case 'a':
		return "resyncing"
	default:
		return "failed"
	}
}
