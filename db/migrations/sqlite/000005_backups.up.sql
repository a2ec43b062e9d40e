-- Volume backups (Cinder's backups table) and their metadata (3.43).
CREATE TABLE IF NOT EXISTS backups (
    id                  TEXT NOT NULL,
    project_id          TEXT NOT NULL DEFAULT '',
    user_id             TEXT NOT NULL DEFAULT '',
    volume_id           TEXT NOT NULL DEFAULT '',
    snapshot_id         TEXT NOT NULL DEFAULT '',
    display_name        TEXT NOT NULL DEFAULT '',
    display_description TEXT NOT NULL,
    container           TEXT NOT NULL DEFAULT '',
    size                INTEGER NOT NULL DEFAULT 0,
    status              TEXT NOT NULL DEFAULT '',
    fail_reason         TEXT NOT NULL,
    availability_zone   TEXT NOT NULL DEFAULT '',
    object_count        INTEGER NOT NULL DEFAULT 0,
    service_metadata    TEXT NOT NULL DEFAULT '',
    service             TEXT NOT NULL DEFAULT '',
    data_timestamp      TEXT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted             INTEGER NOT NULL DEFAULT 0,
    deleted_at          TEXT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS backups_project_id_idx ON backups (project_id, deleted);
CREATE INDEX IF NOT EXISTS backups_volume_id_idx ON backups (volume_id);
CREATE INDEX IF NOT EXISTS backups_created_at_idx ON backups (created_at);

CREATE TABLE IF NOT EXISTS backup_metadata (
    backup_id  TEXT NOT NULL,
    meta_key   TEXT NOT NULL,
    meta_value TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (backup_id, meta_key),
    FOREIGN KEY (backup_id) REFERENCES backups (id) ON DELETE CASCADE
);
