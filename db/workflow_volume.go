package db

import (
	"context"
	"database/sql"

	"github.com/dlvm-project/dlvm/model"
)

// GetWorkflowForSchedule reads, in one query, workflow id, its volume (without metadata) and the
// extra specs of the volume's live type (nil when the volume has no type or it is deleted): what
// the scheduler places a volume with. The volume is nil when it is missing or deleted (then a
// second query reads the workflow alone). ErrNotFound if the workflow is missing.
func (s *Store) GetWorkflowForSchedule(ctx context.Context, id string) (*model.Workflow, *model.Volume, map[string]string, error) {
	rows, err := s.q.QueryContext(ctx, `SELECT `+qualify("w", workflowCols)+`, `+volumeSelectV+`,
		t.id IS NOT NULL, x.spec_key, x.spec_value
		FROM workflows w
		JOIN volumes v ON v.id = w.volume_id AND v.deleted = 0
		LEFT JOIN volume_types t ON t.id = v.volume_type_id AND t.deleted = 0
		LEFT JOIN volume_type_extra_specs x ON x.volume_type_id = t.id
		WHERE w.id = ?`, id)
	if err != nil {
		return nil, nil, nil, dbErr("get workflow", err)
	}
	defer rows.Close()
	var (
		w     *model.Workflow
		v     *model.Volume
		specs map[string]string
	)
	for rows.Next() {
		var (
			live   bool
			k, val sql.NullString
			rw     *model.Workflow
			rv     *model.Volume
		)
		err := scanJoined(rows, []any{&live, &k, &val},
			func(r rowScanner) (err error) { rw, err = scanWorkflow(r); return err },
			func(r rowScanner) (err error) { rv, err = scanVolume(r); return err })
		if err != nil {
			return nil, nil, nil, dbErr("get workflow", err)
		}
		if w == nil {
			w, v = rw, rv
			if live {
				specs = map[string]string{}
			}
		}
		if k.Valid && specs != nil {
			specs[k.String] = val.String
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, nil, dbErr("get workflow", err)
	}
	if w == nil {
		w, err := s.GetWorkflow(ctx, id)
		return w, nil, nil, err
	}
	return w, v, specs, nil
}
