DROP INDEX IF EXISTS snapshots_group_snapshot_id_idx;
ALTER TABLE snapshots DROP COLUMN group_snapshot_id;
DROP INDEX IF EXISTS volumes_group_id_idx;
ALTER TABLE volumes DROP COLUMN group_id;
DROP TABLE IF EXISTS transfers;
DROP TABLE IF EXISTS group_snapshots;
DROP TABLE IF EXISTS volume_groups;
DROP TABLE IF EXISTS group_type_specs;
DROP TABLE IF EXISTS group_types;
