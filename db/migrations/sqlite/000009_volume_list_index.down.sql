DROP INDEX IF EXISTS volumes_project_created_idx;
