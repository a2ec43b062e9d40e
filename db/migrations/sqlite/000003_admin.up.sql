-- Admin resources: QoS specs and their keys, private type access, type encryption, services.
CREATE TABLE IF NOT EXISTS qos_specs (
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    consumer    TEXT NOT NULL DEFAULT 'back-end',
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    deleted     INTEGER NOT NULL DEFAULT 0,
    deleted_at  TEXT NULL,
    -- '' while the specs live, their id once deleted: names are unique among live specs.
    deleted_key TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (id)
);
CREATE UNIQUE INDEX IF NOT EXISTS qos_specs_name_uniq ON qos_specs (name, deleted_key);

CREATE TABLE IF NOT EXISTS qos_spec_keys (
    qos_specs_id TEXT NOT NULL,
    spec_key     TEXT NOT NULL,
    spec_value   TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (qos_specs_id, spec_key),
    FOREIGN KEY (qos_specs_id) REFERENCES qos_specs (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS volume_type_projects (
    volume_type_id TEXT NOT NULL,
    project_id     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (volume_type_id, project_id),
    FOREIGN KEY (volume_type_id) REFERENCES volume_types (id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS volume_type_projects_project_idx ON volume_type_projects (project_id);

CREATE TABLE IF NOT EXISTS volume_type_encryption (
    volume_type_id   TEXT NOT NULL,
    encryption_id    TEXT NOT NULL,
    provider         TEXT NOT NULL,
    cipher           TEXT NOT NULL DEFAULT '',
    key_size         INTEGER NULL,
    control_location TEXT NOT NULL DEFAULT 'front-end',
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (volume_type_id),
    FOREIGN KEY (volume_type_id) REFERENCES volume_types (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS services (
    host               TEXT NOT NULL,
    binary_name       TEXT NOT NULL,
    availability_zone  TEXT NOT NULL DEFAULT '',
    disabled           INTEGER NOT NULL DEFAULT 0,
    disabled_reason    TEXT NOT NULL DEFAULT '',
    frozen             INTEGER NOT NULL DEFAULT 0,
    replication_status TEXT NOT NULL DEFAULT 'disabled',
    active_backend_id  TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    -- the last heartbeat
    updated_at         TEXT NOT NULL,
    PRIMARY KEY (host, binary_name)
);
