-- Volume backups (Cinder's backups table) and their metadata (3.43).
CREATE TABLE IF NOT EXISTS backups (
    id                  VARCHAR(36)   NOT NULL,
    project_id          VARCHAR(255)  NOT NULL DEFAULT '',
    user_id             VARCHAR(255)  NOT NULL DEFAULT '',
    volume_id           VARCHAR(36)   NOT NULL DEFAULT '',
    snapshot_id         VARCHAR(36)   NOT NULL DEFAULT '',
    display_name        VARCHAR(255)  NOT NULL DEFAULT '',
    display_description TEXT          NOT NULL,
    container           VARCHAR(255)  NOT NULL DEFAULT '',
    size                INT           NOT NULL DEFAULT 0,
    status              VARCHAR(32)   NOT NULL DEFAULT '',
    fail_reason         TEXT          NOT NULL,
    availability_zone   VARCHAR(255)  NOT NULL DEFAULT '',
    object_count        INT           NOT NULL DEFAULT 0,
    service_metadata    VARCHAR(1024) NOT NULL DEFAULT '',
    service             VARCHAR(255)  NOT NULL DEFAULT '',
    data_timestamp      DATETIME(6)   NULL,
    created_at          DATETIME(6)   NOT NULL,
    updated_at          DATETIME(6)   NOT NULL,
    deleted             BOOLEAN       NOT NULL DEFAULT FALSE,
    deleted_at          DATETIME(6)   NULL,
    PRIMARY KEY (id),
    KEY backups_project_id_idx (project_id, deleted),
    KEY backups_volume_id_idx (volume_id),
    KEY backups_created_at_idx (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS backup_metadata (
    backup_id  VARCHAR(36)  NOT NULL,
    meta_key   VARCHAR(255) NOT NULL,
    meta_value VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (backup_id, meta_key),
    CONSTRAINT backup_metadata_backup_fk FOREIGN KEY (backup_id) REFERENCES backups (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
