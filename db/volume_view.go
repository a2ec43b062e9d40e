package db

import (
	"context"
	"database/sql"

	"github.com/dlvm-project/dlvm/model"
)

// GetVolumeWithType is GetVolume plus what the volume's views show of its type, in one query:
// the live type (nil when the volume has none or it is deleted; without extra specs) and whether
// project is on the type's access list. ErrNotFound if the volume is missing or deleted.
func (s *Store) GetVolumeWithType(ctx context.Context, id, project string) (*model.Volume, *model.VolumeType, bool, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+volumeSelectV+`, m.meta_key, m.meta_value, t.id, t.name, t.is_public,
		EXISTS (SELECT 1 FROM volume_type_projects a WHERE a.volume_type_id = t.id AND a.project_id = ?)
		FROM volumes v
		LEFT JOIN volume_metadata m ON m.volume_id = v.id
		LEFT JOIN volume_types t ON t.id = v.volume_type_id AND t.deleted = 0
		WHERE v.id = ? AND v.deleted = 0`, project, id)
	if err != nil {
		return nil, nil, false, dbErr("get volume", err)
	}
	defer rows.Close()
	var (
		v      *model.Volume
		vt     *model.VolumeType
		access bool
	)
	for rows.Next() {
		var (
			k, val, tid, tname sql.NullString
			public             sql.NullBool
			acc                bool
		)
		r, err := scanVolume(withExtra(rows, &k, &val, &tid, &tname, &public, &acc))
		if err != nil {
			return nil, nil, false, dbErr("get volume", err)
		}
		if v == nil {
			v, access = r, acc
			if tid.Valid {
				vt = &model.VolumeType{ID: tid.String, Name: tname.String, IsPublic: public.Bool, ExtraSpecs: map[string]string{}}
			}
		}
		if k.Valid {
			v.Metadata[k.String] = val.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, false, dbErr("get volume", err)
	}
	if v == nil {
		return nil, nil, false, notFound("Volume", id)
	}
	return v, vt, access, nil
}
