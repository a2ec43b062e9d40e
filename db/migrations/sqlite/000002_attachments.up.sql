-- Attachments (Cinder's volume_attachment) and the compute hosts (ihosts) volumes attach to.
CREATE TABLE IF NOT EXISTS attachments (
    id              TEXT NOT NULL,
    volume_id       TEXT NOT NULL,
    instance_uuid   TEXT NOT NULL DEFAULT '',
    project_id      TEXT NOT NULL DEFAULT '',
    attach_status   TEXT NOT NULL DEFAULT '',
    attach_mode     TEXT NOT NULL DEFAULT '',
    attached_host   TEXT NOT NULL DEFAULT '',
    mountpoint      TEXT NOT NULL DEFAULT '',
    connector       TEXT NULL,
    connection_info TEXT NULL,
    error_reason    TEXT NOT NULL,
    attach_time     TEXT NULL,
    detach_time     TEXT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    deleted         INTEGER NOT NULL DEFAULT 0,
    deleted_at      TEXT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS attachments_volume_id_idx ON attachments (volume_id, deleted);
CREATE INDEX IF NOT EXISTS attachments_project_id_idx ON attachments (project_id, deleted);
CREATE INDEX IF NOT EXISTS attachments_instance_idx ON attachments (instance_uuid);

CREATE TABLE IF NOT EXISTS ihosts (
    host         TEXT NOT NULL,
    url          TEXT NOT NULL DEFAULT '',
    initiator    TEXT NOT NULL DEFAULT '',
    chap_user    TEXT NOT NULL DEFAULT '',
    chap_secret  TEXT NOT NULL DEFAULT '',
    heartbeat_at TEXT NULL,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (host)
);
