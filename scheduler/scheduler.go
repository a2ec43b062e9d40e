package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/dlvm-project/dlvm/model"
)

// DPVUp is the DPV.State of a dpv that accepts new legs.
const DPVUp = model.DPVUp

// State is the read-only snapshot Place works on. Place never modifies it.
type State struct {
	DVGs []*model.DVG
	DPVs []*model.DPV
	// Provisioned maps a dpv id to the bytes of the legs it already carries. A dpv absent from
	// the map falls back to its own DPV.ProvisionedBytes.
	Provisioned map[string]int64
	// Now is the snapshot time; heartbeats are judged against it.
	Now time.Time
	// HeartbeatTimeout: a dpv whose HeartbeatAt is older than Now-HeartbeatTimeout is dead.
	// Zero disables the check (only DPV.State counts).
	HeartbeatTimeout time.Duration
}

// Usable reports whether p may receive a new leg: state "up" and a fresh heartbeat.
func (st State) Usable(p *model.DPV) bool {
	if p == nil || p.State != DPVUp {
		return false
	}
	return st.HeartbeatTimeout <= 0 || st.Now.Sub(p.HeartbeatAt) <= st.HeartbeatTimeout
}

// Request describes the volume to place.
type Request struct {
	VolumeID         string // for the caller's logs; Place does not use it
	SizeGiB          int
	Layout           model.Layout
	AvailabilityZone string // "" = any
	BackendName      string // the type's volume_backend_name; "" = any
	DVGID            string // forced dvg; "" = any
	// ExtraSpecs are the volume type's extra specs, matched against each dvg's Capabilities as
	// Cinder's CapabilitiesFilter does (see MatchSpecs); nil = no requirement.
	ExtraSpecs map[string]string
	// SourceLegs are the legs of the clone source (snapshot or volume) with Group, Mirror and
	// DPVID set; nil when the volume starts empty.
	SourceLegs []*model.Leg
}

// Plan is where the volume goes.
type Plan struct {
	DVG *model.DVG
	// Legs are ordered by group then mirror. Group, Mirror, DPVID and SizeBytes are set; ID,
	// OwnerKind, OwnerID, Status and SourceLegID are left to the caller.
	Legs []*model.Leg
}

// Place chooses a dvg and a dpv for every leg of req. It is deterministic: the same request and
// state always give the same plan. Errors: model.ErrInvalid for a bad size or layout;
// model.ErrNoPlacement, with a user-safe reason, when no dvg can hold the volume. The rules are in
// README.md; in short:
//
//   - Filters: a dvg qualifies when it matches the availability zone, the backend name and the
//     forced dvg id of req (each only when set in req).
//   - Capacity: a dpv fits a leg when it is usable (see State.Usable), provisioned+leg <=
//     total*ratio (ratio = the dvg's over-subscription, at least 1), and its physical free
//     bytes minus the dvg's reserved percentage of its total stay above zero.
//   - Legs: the mirrors of one group go to distinct dpvs (hard rule) and prefer distinct
//     locations, a dpv with no location being its own location. Each pick takes, in order: a
//     location the group does not use yet, the dpv with the fewest legs of this plan (stripes
//     spread over dpvs), the most free virtual bytes after the legs placed so far, the name.
//     So the group's legs land on distinct locations whenever enough fitting locations exist,
//     and fall back to distinct dpvs sharing a location when they do not. When that spread
//     pass cannot place every leg, a packing pass (most free first, distinct dpvs per group
//     only) tries again; it finds a placement whenever one exists.
//   - Clones: when SourceLegs has exactly the requested layout, leg (g, m) first goes to the
//     dpv of source leg (g, m) so the dpv can clone locally; a source dpv that is not usable,
//     not in the dvg, or full is ignored and that leg is placed by the rules above.
//   - Weighing dvgs: the dvg where most legs sit on their source dpv wins, then the dvg with
//     the most free virtual bytes over its usable dpvs, then the name.
func Place(req Request, st State) (*Plan, error) {
	if err := validate(req); err != nil {
		return nil, err
	}
	legSize := req.Layout.LegSize(req.SizeGiB)
	dvgs := filterDVGs(req, st.DVGs)
	if len(dvgs) == 0 {
		return nil, model.Errorf(model.ErrNoPlacement, "No valid backend was found. %s", noDVGReason(req, st.DVGs))
	}
	dvgs, failed := filterSpecs(req, st, dvgs)
	if len(dvgs) == 0 {
		return nil, model.Errorf(model.ErrNoPlacement, "No valid backend was found. %s matches the volume type's extra specs (%s).",
			strings.TrimSpace("No dvg "+scopeText(req, st.DVGs)), failed)
	}
	pins := sourcePins(req)

	var best *candidate
	var fails []string
	for _, g := range dvgs {
		c, reason := placeIn(g, st, req.Layout, legSize, pins)
		if c == nil {
			fails = append(fails, reason)
			continue
		}
		if best == nil || c.better(best) {
			best = c
		}
	}
	if best == nil {
		return nil, model.Errorf(model.ErrNoPlacement, "No valid backend was found. %s; %s.",
			needText(req, legSize, st.DVGs), strings.Join(fails, ", "))
	}
	return best.plan, nil
}

func validate(req Request) error {
	l := req.Layout
	switch {
	case l.Mirrors < 1:
		return model.Errorf(model.ErrInvalid, "Invalid layout: mirrors must be at least 1, got %d.", l.Mirrors)
	case l.Stripes < 1:
		return model.Errorf(model.ErrInvalid, "Invalid layout: stripes must be at least 1, got %d.", l.Stripes)
	case l.ChunkKiB < 1:
		return model.Errorf(model.ErrInvalid, "Invalid layout: stripe chunk must be positive, got %d KiB.", l.ChunkKiB)
	case req.SizeGiB < 1:
		return model.Errorf(model.ErrInvalid, "Invalid volume size %d GiB.", req.SizeGiB)
	}
	return nil
}

// filterDVGs returns the dvgs matching req, ordered by name (then id).
func filterDVGs(req Request, all []*model.DVG) []*model.DVG {
	var out []*model.DVG
	for _, g := range all {
		if g == nil ||
			(req.AvailabilityZone != "" && g.AvailabilityZone != req.AvailabilityZone) ||
			(req.BackendName != "" && g.BackendName != req.BackendName) ||
			(req.DVGID != "" && g.ID != req.DVGID) {
			continue
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *model.DVG) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out
}

// filterSpecs keeps the dvgs whose capabilities satisfy req.ExtraSpecs. When none does, it
// returns the failing specs, one per dvg, for the reason ("dvg gold: vendor_name=acme").
func filterSpecs(req Request, st State, dvgs []*model.DVG) ([]*model.DVG, string) {
	if len(req.ExtraSpecs) == 0 {
		return dvgs, ""
	}
	var out []*model.DVG
	var fails []string
	for _, g := range dvgs {
		if key := MatchSpecs(req.ExtraSpecs, CapabilitiesOf(g, st)); key != "" {
			fails = append(fails, "dvg "+g.Name+": "+specText(key, req.ExtraSpecs))
			continue
		}
		out = append(out, g)
	}
	return out, strings.Join(fails, ", ")
}

// sourcePins maps (group, mirror) to the source leg's dpv, when the source has exactly the
// requested layout; nil otherwise.
func sourcePins(req Request) map[slot]string {
	l := req.Layout
	if len(req.SourceLegs) == 0 || len(req.SourceLegs) != l.Legs() {
		return nil
	}
	pins := make(map[slot]string, len(req.SourceLegs))
	for _, leg := range req.SourceLegs {
		s := slot{leg.Group, leg.Mirror}
		if leg.Group < 0 || leg.Group >= l.Stripes || leg.Mirror < 0 || leg.Mirror >= l.Mirrors {
			return nil
		}
		if _, dup := pins[s]; dup {
			return nil
		}
		pins[s] = leg.DPVID
	}
	return pins
}

type slot struct{ group, mirror int }

// candidate is a complete plan in one dvg with what the weighers need.
type candidate struct {
	plan  *Plan
	local int   // legs placed on their source leg's dpv
	free  int64 // free virtual bytes over the dvg's usable dpvs before placement
}

func (c *candidate) better(o *candidate) bool {
	if c.local != o.local {
		return c.local > o.local
	}
	return c.free > o.free // equal: keep o, which comes first by name
}

func needText(req Request, legSize int64, all []*model.DVG) string {
	l := req.Layout
	var b strings.Builder
	if l.Mirrors == 1 {
		fmt.Fprintf(&b, "1 leg needs a dpv with %s free", fmtBytes(legSize))
	} else {
		fmt.Fprintf(&b, "%d mirrors need %d distinct dpvs with %s free", l.Mirrors, l.Mirrors, fmtBytes(legSize))
	}
	if l.Stripes > 1 {
		fmt.Fprintf(&b, " for each of %d stripes", l.Stripes)
	}
	if s := scopeText(req, all); s != "" {
		b.WriteString(" " + s)
	}
	return b.String()
}

func noDVGReason(req Request, all []*model.DVG) string {
	if s := scopeText(req, all); s != "" {
		return "No dvg " + s + "."
	}
	return "No dvg is configured."
}

// scopeText names the filters of req: "in availability zone nova for backend gold".
func scopeText(req Request, all []*model.DVG) string {
	var parts []string
	if req.AvailabilityZone != "" {
		parts = append(parts, "in availability zone "+req.AvailabilityZone)
	}
	if req.BackendName != "" {
		parts = append(parts, "for backend "+req.BackendName)
	}
	if req.DVGID != "" {
		name := req.DVGID
		for _, g := range all {
			if g != nil && g.ID == req.DVGID {
				name = g.Name
			}
		}
		parts = append(parts, "in dvg "+name)
	}
	return strings.Join(parts, " ")
}

const mib = int64(1) << 20

func fmtBytes(b int64) string {
	switch {
	case b%model.GiB == 0:
		return fmt.Sprintf("%d GiB", b/model.GiB)
	case b >= model.GiB:
		// One decimal, without a trailing ".0" (a mirrored leg's 1 MiB of metadata on top
		// of whole GiB reads "5 GiB").
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(b)/float64(model.GiB)), ".0") + " GiB"
	default:
		return fmt.Sprintf("%d MiB", (b+mib-1)/mib)
	}
}
