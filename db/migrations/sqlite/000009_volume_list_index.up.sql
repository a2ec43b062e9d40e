-- A project's volume list in its default order (created_at desc, id desc) walks this index and
-- stops at the page's limit, instead of sorting every volume of the project for each page.
CREATE INDEX IF NOT EXISTS volumes_project_created_idx ON volumes (project_id, deleted, created_at, id);
