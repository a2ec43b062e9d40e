-- SQLite schema: times are UTC TEXT "YYYY-MM-DD HH:MM:SS.ffffff", booleans INTEGER 0/1.
CREATE TABLE IF NOT EXISTS volumes (
    id                  TEXT NOT NULL,
    project_id          TEXT NOT NULL DEFAULT '',
    user_id             TEXT NOT NULL DEFAULT '',
    display_name        TEXT NOT NULL DEFAULT '',
    display_description TEXT NOT NULL,
    size                INTEGER NOT NULL DEFAULT 0,
    status              TEXT NOT NULL DEFAULT '',
    attach_status       TEXT NOT NULL DEFAULT '',
    migration_status    TEXT NOT NULL DEFAULT '',
    availability_zone   TEXT NOT NULL DEFAULT '',
    volume_type_id      TEXT NOT NULL DEFAULT '',
    snapshot_id         TEXT NOT NULL DEFAULT '',
    source_volid        TEXT NOT NULL DEFAULT '',
    bootable            INTEGER NOT NULL DEFAULT 0,
    read_only           INTEGER NOT NULL DEFAULT 0,
    multiattach         INTEGER NOT NULL DEFAULT 0,
    host                TEXT NOT NULL DEFAULT '',
    dvg_id              TEXT NOT NULL DEFAULT '',
    layout_mirrors      INTEGER NOT NULL DEFAULT 0,
    layout_stripes      INTEGER NOT NULL DEFAULT 0,
    layout_chunk_kib    INTEGER NOT NULL DEFAULT 0,
    epoch               INTEGER NOT NULL DEFAULT 0,
    error_reason        TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    launched_at         TEXT NULL,
    terminated_at       TEXT NULL,
    deleted             INTEGER NOT NULL DEFAULT 0,
    deleted_at          TEXT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS volumes_project_id_idx ON volumes (project_id, deleted);
CREATE INDEX IF NOT EXISTS volumes_status_idx ON volumes (status);
CREATE INDEX IF NOT EXISTS volumes_created_at_idx ON volumes (created_at);
CREATE INDEX IF NOT EXISTS volumes_volume_type_id_idx ON volumes (volume_type_id);

CREATE TABLE IF NOT EXISTS volume_metadata (
    volume_id  TEXT NOT NULL,
    meta_key   TEXT NOT NULL,
    meta_value TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (volume_id, meta_key),
    FOREIGN KEY (volume_id) REFERENCES volumes (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS volume_metadata_kv_idx ON volume_metadata (meta_key, meta_value);

CREATE TABLE IF NOT EXISTS snapshots (
    id                  TEXT NOT NULL,
    project_id          TEXT NOT NULL DEFAULT '',
    user_id             TEXT NOT NULL DEFAULT '',
    volume_id           TEXT NOT NULL DEFAULT '',
    display_name        TEXT NOT NULL DEFAULT '',
    display_description TEXT NOT NULL,
    volume_size         INTEGER NOT NULL DEFAULT 0,
    status              TEXT NOT NULL DEFAULT '',
    progress            TEXT NOT NULL DEFAULT '',
    error_reason        TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    deleted             INTEGER NOT NULL DEFAULT 0,
    deleted_at          TEXT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS snapshots_project_id_idx ON snapshots (project_id, deleted);
CREATE INDEX IF NOT EXISTS snapshots_volume_id_idx ON snapshots (volume_id);
CREATE INDEX IF NOT EXISTS snapshots_status_idx ON snapshots (status);
CREATE INDEX IF NOT EXISTS snapshots_created_at_idx ON snapshots (created_at);

CREATE TABLE IF NOT EXISTS snapshot_metadata (
    snapshot_id TEXT NOT NULL,
    meta_key    TEXT NOT NULL,
    meta_value  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (snapshot_id, meta_key),
    FOREIGN KEY (snapshot_id) REFERENCES snapshots (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS volume_types (
    id           TEXT NOT NULL,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    is_public    INTEGER NOT NULL DEFAULT 1,
    qos_specs_id TEXT NOT NULL DEFAULT '',
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    deleted_at   TEXT NULL,
    -- '' while the type lives, its id once deleted: names are unique among live types.
    deleted_key  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS volume_types_name_uniq ON volume_types (name, deleted_key);

CREATE TABLE IF NOT EXISTS volume_type_extra_specs (
    volume_type_id TEXT NOT NULL,
    spec_key       TEXT NOT NULL,
    spec_value     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (volume_type_id, spec_key),
    FOREIGN KEY (volume_type_id) REFERENCES volume_types (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS quotas (
    project_id TEXT NOT NULL,
    resource   TEXT NOT NULL,
    hard_limit INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (project_id, resource)
);

CREATE TABLE IF NOT EXISTS quota_usages (
    project_id TEXT NOT NULL,
    resource   TEXT NOT NULL,
    in_use     INTEGER NOT NULL DEFAULT 0,
    reserved   INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NULL,
    PRIMARY KEY (project_id, resource)
);

CREATE TABLE IF NOT EXISTS dvgs (
    id                  TEXT NOT NULL,
    name                TEXT NOT NULL DEFAULT '',
    backend_name        TEXT NOT NULL DEFAULT '',
    availability_zone   TEXT NOT NULL DEFAULT '',
    over_subscription   REAL NOT NULL DEFAULT 0,
    reserved_percentage INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT NOT NULL,
    updated_at          TEXT NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS dvgs_name_idx ON dvgs (name);

CREATE TABLE IF NOT EXISTS dpvs (
    id                TEXT NOT NULL,
    name              TEXT NOT NULL DEFAULT '',
    dvg_id            TEXT NOT NULL DEFAULT '',
    url               TEXT NOT NULL DEFAULT '',
    location          TEXT NOT NULL DEFAULT '',
    pool_type         TEXT NOT NULL DEFAULT '',
    target_portal     TEXT NOT NULL DEFAULT '',
    total_bytes       INTEGER NOT NULL DEFAULT 0,
    free_bytes        INTEGER NOT NULL DEFAULT 0,
    provisioned_bytes INTEGER NOT NULL DEFAULT 0,
    state             TEXT NOT NULL DEFAULT '',
    heartbeat_at      TEXT NULL,
    created_at        TEXT NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS dpvs_dvg_id_idx ON dpvs (dvg_id);

CREATE TABLE IF NOT EXISTS legs (
    id            TEXT NOT NULL,
    owner_kind    TEXT NOT NULL DEFAULT '',
    owner_id      TEXT NOT NULL,
    group_idx     INTEGER NOT NULL DEFAULT 0,
    mirror_idx    INTEGER NOT NULL DEFAULT 0,
    dpv_id        TEXT NOT NULL DEFAULT '',
    size_bytes    INTEGER NOT NULL DEFAULT 0,
    source_leg_id TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL DEFAULT '',
    created_at    TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS legs_owner_idx ON legs (owner_id, status);
CREATE INDEX IF NOT EXISTS legs_dpv_idx ON legs (dpv_id, status);

CREATE TABLE IF NOT EXISTS workflows (
    id          TEXT NOT NULL,
    kind        TEXT NOT NULL DEFAULT '',
    volume_id   TEXT NOT NULL DEFAULT '',
    snapshot_id TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL DEFAULT '',
    step        INTEGER NOT NULL DEFAULT 0,
    params      BLOB NULL,
    owner       TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    error       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS workflows_state_idx ON workflows (state, created_at);
CREATE INDEX IF NOT EXISTS workflows_volume_id_idx ON workflows (volume_id);
