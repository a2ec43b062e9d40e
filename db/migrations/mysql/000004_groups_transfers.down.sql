DROP INDEX snapshots_group_snapshot_id_idx ON snapshots;
ALTER TABLE snapshots DROP COLUMN group_snapshot_id;
DROP INDEX volumes_group_id_idx ON volumes;
ALTER TABLE volumes DROP COLUMN group_id;
DROP TABLE IF EXISTS transfers;
DROP TABLE IF EXISTS group_snapshots;
DROP TABLE IF EXISTS volume_groups;
DROP TABLE IF EXISTS group_type_specs;
DROP TABLE IF EXISTS group_types;
