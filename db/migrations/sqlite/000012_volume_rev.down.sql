DROP INDEX IF EXISTS volumes_project_created_idx;
CREATE INDEX volumes_project_created_idx ON volumes (project_id, deleted, created_at, id);
ALTER TABLE volumes DROP COLUMN rev;
