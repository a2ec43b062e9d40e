-- Generic volume groups (group types, groups, group snapshots) and volume transfers.
CREATE TABLE IF NOT EXISTS group_types (
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    is_public   INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0,
    deleted_at  TEXT NULL,
    deleted_key TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS group_types_name_uniq ON group_types (name, deleted_key);

CREATE TABLE IF NOT EXISTS group_type_specs (
    group_type_id TEXT NOT NULL,
    spec_key      TEXT NOT NULL,
    spec_value    TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (group_type_id, spec_key),
    FOREIGN KEY (group_type_id) REFERENCES group_types (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS volume_groups (
    id                TEXT NOT NULL,
    project_id        TEXT NOT NULL DEFAULT '',
    user_id           TEXT NOT NULL DEFAULT '',
    name              TEXT NOT NULL DEFAULT '',
    description       TEXT NOT NULL,
    status            TEXT NOT NULL DEFAULT '',
    availability_zone TEXT NOT NULL DEFAULT '',
    group_type_id     TEXT NOT NULL DEFAULT '',
    group_snapshot_id TEXT NOT NULL DEFAULT '',
    source_group_id   TEXT NOT NULL DEFAULT '',
    volume_type_ids   TEXT NOT NULL,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    deleted           INTEGER NOT NULL DEFAULT 0,
    deleted_at        TEXT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS volume_groups_project_id_idx ON volume_groups (project_id, deleted);

CREATE TABLE IF NOT EXISTS group_snapshots (
    id            TEXT NOT NULL,
    project_id    TEXT NOT NULL DEFAULT '',
    user_id       TEXT NOT NULL DEFAULT '',
    group_id      TEXT NOT NULL DEFAULT '',
    group_type_id TEXT NOT NULL DEFAULT '',
    name          TEXT NOT NULL DEFAULT '',
    description   TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    deleted       INTEGER NOT NULL DEFAULT 0,
    deleted_at    TEXT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS group_snapshots_project_id_idx ON group_snapshots (project_id, deleted);
CREATE INDEX IF NOT EXISTS group_snapshots_group_id_idx ON group_snapshots (group_id);

CREATE TABLE IF NOT EXISTS transfers (
    id                     TEXT NOT NULL,
    volume_id              TEXT NOT NULL,
    display_name           TEXT NOT NULL DEFAULT '',
    salt                   TEXT NOT NULL DEFAULT '',
    crypt_hash             TEXT NOT NULL DEFAULT '',
    no_snapshots           INTEGER NOT NULL DEFAULT 0,
    source_project_id      TEXT NOT NULL DEFAULT '',
    destination_project_id TEXT NOT NULL DEFAULT '',
    accepted               INTEGER NOT NULL DEFAULT 0,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    deleted                INTEGER NOT NULL DEFAULT 0,
    deleted_at             TEXT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS transfers_volume_id_idx ON transfers (volume_id, deleted);
CREATE INDEX IF NOT EXISTS transfers_source_project_idx ON transfers (source_project_id, deleted);

ALTER TABLE volumes ADD COLUMN group_id TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS volumes_group_id_idx ON volumes (group_id);
ALTER TABLE snapshots ADD COLUMN group_snapshot_id TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS snapshots_group_snapshot_id_idx ON snapshots (group_snapshot_id);
