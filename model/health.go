package model

import "time"

// Leg states as a host's connector reports them (connector.LegHealth.State).
const (
	LegStateOK        = "ok"
	LegStateResyncing = "resyncing"
	LegStateFailed    = "failed"
)

// Volume health, derived from its legs' reports.
const (
	HealthHealthy   = "healthy"   // every leg of every group is in sync
	HealthResyncing = "resyncing" // a leg is being copied back in; no group lacks a good leg
	HealthDegraded  = "degraded"  // a leg is out of service; every group still has a good leg
	HealthFailed    = "failed"    // a group has no good leg: data is unavailable
	HealthUnknown   = "unknown"   // nothing reported (not assembled by a dlvm connector)
)

// LegHealth is one leg as one host's connector last reported it.
type LegHealth struct {
	LegID        string
	Host         string
	VolumeID     string
	State        string // LegStateOK, LegStateResyncing, LegStateFailed
	DirtyRegions int64  // regions of its mirror written while a leg was out of sync
	Message      string
	Since        time.Time // when the host first reported the leg in this state
	ReportedAt   time.Time
}

// VolumeHealth is a volume's health as the operator sees it: its derived status and each of
// its legs with where it lives and what the hosts report.
type VolumeHealth struct {
	VolumeID string
	Status   string // HealthHealthy, ...
	Legs     []LegReport
}

// LegReport is one leg of a VolumeHealth.
type LegReport struct {
	LegID        string
	Group        int
	Mirror       int
	DPVID        string
	DPVState     string // "up", "down" (heartbeat older than the timeout), "draining"
	State        string // worst state any host reports; "" when none reports it
	DirtyRegions int64
	Message      string
	Since        time.Time
	ReportedAt   time.Time
}

// DeriveHealth computes a volume's health from its legs' reports (one per leg, the worst
// across hosts): failed when a group has no ok leg, degraded when a leg failed, resyncing when
// a leg resyncs, healthy when every leg is ok; unknown when no leg is reported.
func DeriveHealth(legs []LegReport) string {
	if len(legs) == 0 {
		return HealthUnknown
	}
	reported, failed, resyncing := false, false, false
	okPerGroup := map[int]int{}
	groups := map[int]bool{}
	for _, l := range legs {
		groups[l.Group] = true
		switch l.State {
		case LegStateOK:
			okPerGroup[l.Group]++
		case LegStateFailed:
			failed = true
		case LegStateResyncing:
			resyncing = true
		}
		reported = reported || l.State != ""
	}
	if !reported {
		return HealthUnknown
	}
	for g := range groups {
		if okPerGroup[g] == 0 {
			return HealthFailed
		}
	}
	switch {
	case failed:
		return HealthDegraded
	case resyncing:
		return HealthResyncing
	}
	return HealthHealthy
}

// WorseLegState reports whether state a is worse than b (failed > resyncing > ok > "").
func WorseLegState(a, b string) bool { return legRank(a) > legRank(b) }

func legRank(s string) int {
	switch s {
	case LegStateFailed:
		return 3
	case LegStateResyncing:
		return 2
	case LegStateOK:
		return 1
	}
	return 0
}

// MergeLegHealth returns one LegReport per leg, in legs' order, with the worst state any host
// reports for it (and that report's details); legs nobody reports have an empty State.
func MergeLegHealth(legs []*Leg, reports []*LegHealth) []LegReport {
	out := make([]LegReport, 0, len(legs))
	for _, l := range legs {
		r := LegReport{LegID: l.ID, Group: l.Group, Mirror: l.Mirror, DPVID: l.DPVID}
		for _, h := range reports {
			if h.LegID == l.ID && (r.State == "" || WorseLegState(h.State, r.State)) {
				r.State, r.DirtyRegions, r.Message, r.Since, r.ReportedAt = h.State, h.DirtyRegions, h.Message, h.Since, h.ReportedAt
			}
		}
		out = append(out, r)
	}
	return out
}
