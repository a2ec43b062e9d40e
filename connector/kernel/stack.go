package kernel

import (
	"strings"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/model"
)

// legsOf validates a plan and returns its legs as [group][mirror].
func legsOf(p connector.Plan) ([][]connector.PlanLeg, Geometry, error) {
	g, err := GeometryOf(p)
	if err != nil {
		return nil, g, err
	}
	if !validVolume(p.VolumeID) {
		return nil, g, model.Errorf(model.ErrInvalid, "invalid volume id %q", p.VolumeID)
	}
	if len(p.Legs) != p.Stripes*p.Mirrors {
		return nil, g, model.Errorf(model.ErrInvalid, "plan %s: %d legs for %dx%d", p.VolumeID, len(p.Legs), p.Stripes, p.Mirrors)
	}
	legs := make([][]connector.PlanLeg, p.Stripes)
	for i := range legs {
		legs[i] = make([]connector.PlanLeg, p.Mirrors)
	}
	for _, l := range p.Legs {
		if l.Group < 0 || l.Group >= p.Stripes || l.Mirror < 0 || l.Mirror >= p.Mirrors || legs[l.Group][l.Mirror].LegID != "" {
			return nil, g, model.Errorf(model.ErrInvalid, "plan %s: leg %s at bad or duplicate slot g%d/m%d", p.VolumeID, l.LegID, l.Group, l.Mirror)
		}
		if err := validLeg(l); err != nil {
			return nil, g, err
		}
		legs[l.Group][l.Mirror] = l
	}
	return legs, g, nil
}

func validVolume(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return id[0] != '-'
}

func validLeg(l connector.PlanLeg) error {
	for _, s := range []string{l.LegID, l.IQN, l.Portal, l.AuthUser, l.AuthSecret, l.AuthMethod} {
		if strings.ContainsAny(s, " \t\n") || strings.HasPrefix(s, "-") {
			return model.Errorf(model.ErrInvalid, "leg %q: bad field %q", l.LegID, s)
		}
	}
	if l.LegID == "" || l.IQN == "" || l.Portal == "" || l.LUN < 0 || l.SizeBytes <= 0 {
		return model.Errorf(model.ErrInvalid, "leg %q: missing id, target or size", l.LegID)
	}
	return nil
}

type dmDev struct{ name, table string }

// stack is a plan's dm devices bottom-up: slots, groups, stripe, top. rebuild marks, per
// group, the mirror slots dm-raid must rebuild.
func stack(p connector.Plan, disks map[string]string, rebuild map[int][]int) ([]dmDev, error) {
	legs, g, err := legsOf(p)
	if err != nil {
		return nil, err
	}
	const metaSectors = MetadataBytes / SectorSize
	var devs []dmDev
	var groups []string
	for i, ls := range legs {
		name := groupName(p.VolumeID, i)
		groups = append(groups, mapper(name))
		if p.Mirrors == 1 {
			devs = append(devs, dmDev{name, LinearTable(disks[ls[0].LegID], 0, g.Group)})
			continue
		}
		var rd []RaidDev
		for j, l := range ls {
			metaOff := l.SizeBytes/SectorSize - metaSectors
			if metaOff < g.Group {
				return nil, model.Errorf(model.ErrInvalid, "leg %s: %d bytes hold no %d data + %d metadata bytes", l.LegID, l.SizeBytes, g.Group*SectorSize, MetadataBytes)
			}
			meta, data := slotName(p.VolumeID, i, j, "meta"), slotName(p.VolumeID, i, j, "data")
			devs = append(devs, dmDev{meta, LinearTable(disks[l.LegID], metaOff, metaSectors)},
				dmDev{data, LinearTable(disks[l.LegID], 0, g.Group)})
			rd = append(rd, RaidDev{Meta: mapper(meta), Data: mapper(data)})
		}
		devs = append(devs, dmDev{name, RaidTable(rd, g.Group, RegionSectors(g.Group), rebuild[i])})
	}
	devs = append(devs, dmDev{stripeName(p.VolumeID), StripeTable(groups, g.Chunk, g.Stripe)},
		dmDev{TopName(p.VolumeID), LinearTable(mapper(stripeName(p.VolumeID)), 0, g.Top)})
	return devs, nil
}
