-- Attachments (Cinder's volume_attachment) and the compute hosts (ihosts) volumes attach to.
CREATE TABLE IF NOT EXISTS attachments (
    id              VARCHAR(36)  NOT NULL,
    volume_id       VARCHAR(36)  NOT NULL,
    instance_uuid   VARCHAR(36)  NOT NULL DEFAULT '',
    project_id      VARCHAR(255) NOT NULL DEFAULT '',
    attach_status   VARCHAR(32)  NOT NULL DEFAULT '',
    attach_mode     VARCHAR(8)   NOT NULL DEFAULT '',
    attached_host   VARCHAR(255) NOT NULL DEFAULT '',
    mountpoint      VARCHAR(255) NOT NULL DEFAULT '',
    connector       MEDIUMTEXT   NULL,
    connection_info MEDIUMTEXT   NULL,
    error_reason    TEXT         NOT NULL,
    attach_time     DATETIME(6)  NULL,
    detach_time     DATETIME(6)  NULL,
    created_at      DATETIME(6)  NOT NULL,
    updated_at      DATETIME(6)  NOT NULL,
    deleted         BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at      DATETIME(6)  NULL,
    PRIMARY KEY (id),
    KEY attachments_volume_id_idx (volume_id, deleted),
    KEY attachments_project_id_idx (project_id, deleted),
    KEY attachments_instance_idx (instance_uuid)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS ihosts (
    host         VARCHAR(255) NOT NULL,
    url          VARCHAR(1024) NOT NULL DEFAULT '',
    initiator    VARCHAR(255) NOT NULL DEFAULT '',
    chap_user    VARCHAR(255) NOT NULL DEFAULT '',
    chap_secret  VARCHAR(255) NOT NULL DEFAULT '',
    heartbeat_at DATETIME(6)  NULL,
    created_at   DATETIME(6)  NOT NULL,
    updated_at   DATETIME(6)  NOT NULL,
    PRIMARY KEY (host)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
