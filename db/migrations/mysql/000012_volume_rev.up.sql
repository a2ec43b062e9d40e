-- A volume's revision: moved, in the same transaction, by every write that changes what the
-- volume's API views show (the row, its metadata, its attachments, its type's name or access).
-- The API keeps encoded views keyed by (id, rev) and asks the database only for the revisions.
ALTER TABLE volumes ADD COLUMN rev BIGINT NOT NULL DEFAULT 0;
-- the list index also covers rev, so a page of revisions is read from the index alone
DROP INDEX volumes_project_created_idx ON volumes;
CREATE INDEX volumes_project_created_idx ON volumes (project_id, deleted, created_at, id, rev);
