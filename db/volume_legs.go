package db

import (
	"context"

	"github.com/dlvm-project/dlvm/model"
)

// GetVolumeLegs reads a volume (without its metadata), its legs as ListLegs orders them and the
// dpvs holding them, by id, in one query. When that query cannot answer it alone (the volume
// has no legs, or a leg names a dpv with no row) it reads them one after the other: the answer
// is the same. ErrNotFound if the volume is missing or deleted.
func (s *Store) GetVolumeLegs(ctx context.Context, id string) (*model.Volume, []*model.Leg, map[string]*model.DPV, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+volumeSelectV+`, `+qualify("l", legCols)+`, `+qualify("d", dpvCols)+`,
		(SELECT COUNT(*) FROM legs c WHERE c.owner_id = v.id AND c.status <> ?)
		FROM volumes v
		JOIN legs l ON l.owner_id = v.id AND l.status <> ?
		JOIN dpvs d ON d.id = l.dpv_id
		WHERE v.id = ? AND v.deleted = 0
		ORDER BY l.group_idx, l.mirror_idx, l.id`, model.LegDeleted, model.LegDeleted, id)
	if err != nil {
		return nil, nil, nil, dbErr("get volume legs", err)
	}
	defer rows.Close()
	var (
		v     *model.Volume
		legs  = []*model.Leg{}
		dpvs  = map[string]*model.DPV{}
		count int
	)
	for rows.Next() {
		var (
			rv *model.Volume
			l  *model.Leg
			p  *model.DPV
		)
		err := scanJoined(rows, []any{&count},
			func(r rowScanner) (err error) { rv, err = scanVolume(r); return err },
			func(r rowScanner) (err error) { l, err = scanLeg(r); return err },
			func(r rowScanner) (err error) { p, err = scanDPV(r); return err })
		if err != nil {
			return nil, nil, nil, dbErr("get volume legs", err)
		}
		if v == nil {
			v = rv
		}
		legs = append(legs, l)
		dpvs[p.ID] = p
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, dbErr("get volume legs", err)
	}
	if v != nil && len(legs) == count {
		return v, legs, dpvs, nil
	}
	// no legs, or legs on dpvs without a row: each read on its own
	if v, err = s.GetVolume(ctx, id); err != nil {
		return nil, nil, nil, err
	}
	v.Metadata = map[string]string{}
	if legs, err = s.ListLegs(ctx, id); err != nil {
		return nil, nil, nil, err
	}
	ids := []string{}
	for _, l := range legs {
		ids = append(ids, l.DPVID)
	}
	dpvs, err = s.GetDPVs(ctx, ids)
	return v, legs, dpvs, err
}
