-- Generic volume groups (group types, groups, group snapshots) and volume transfers.
CREATE TABLE IF NOT EXISTS group_types (
    id          VARCHAR(36)  NOT NULL,
    name        VARCHAR(255) NOT NULL,
    description TEXT         NOT NULL,
    is_public   BOOLEAN      NOT NULL DEFAULT TRUE,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    deleted     BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at  DATETIME(6)  NULL,
    -- '' while the type lives, its id once deleted: names are unique among live types.
    deleted_key VARCHAR(36)  NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    UNIQUE KEY group_types_name_uniq (name, deleted_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS group_type_specs (
    group_type_id VARCHAR(36)  NOT NULL,
    spec_key      VARCHAR(255) NOT NULL,
    spec_value    TEXT         NOT NULL,
    PRIMARY KEY (group_type_id, spec_key),
    CONSTRAINT group_type_specs_fk FOREIGN KEY (group_type_id) REFERENCES group_types (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS volume_groups (
    id                VARCHAR(36)  NOT NULL,
    project_id        VARCHAR(255) NOT NULL DEFAULT '',
    user_id           VARCHAR(255) NOT NULL DEFAULT '',
    name              VARCHAR(255) NOT NULL DEFAULT '',
    description       TEXT         NOT NULL,
    status            VARCHAR(255) NOT NULL DEFAULT '',
    availability_zone VARCHAR(255) NOT NULL DEFAULT '',
    group_type_id     VARCHAR(36)  NOT NULL DEFAULT '',
    group_snapshot_id VARCHAR(36)  NOT NULL DEFAULT '',
    source_group_id   VARCHAR(36)  NOT NULL DEFAULT '',
    volume_type_ids   TEXT         NOT NULL,
    created_at        DATETIME(6)  NOT NULL,
    updated_at        DATETIME(6)  NOT NULL,
    deleted           BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at        DATETIME(6)  NULL,
    PRIMARY KEY (id),
    KEY volume_groups_project_id_idx (project_id, deleted)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS group_snapshots (
    id            VARCHAR(36)  NOT NULL,
    project_id    VARCHAR(255) NOT NULL DEFAULT '',
    user_id       VARCHAR(255) NOT NULL DEFAULT '',
    group_id      VARCHAR(36)  NOT NULL DEFAULT '',
    group_type_id VARCHAR(36)  NOT NULL DEFAULT '',
    name          VARCHAR(255) NOT NULL DEFAULT '',
    description   TEXT         NOT NULL,
    status        VARCHAR(255) NOT NULL DEFAULT '',
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    deleted       BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at    DATETIME(6)  NULL,
    PRIMARY KEY (id),
    KEY group_snapshots_project_id_idx (project_id, deleted),
    KEY group_snapshots_group_id_idx (group_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS transfers (
    id                     VARCHAR(36)  NOT NULL,
    volume_id              VARCHAR(36)  NOT NULL,
    display_name           VARCHAR(255) NOT NULL DEFAULT '',
    salt                   VARCHAR(255) NOT NULL DEFAULT '',
    crypt_hash             VARCHAR(255) NOT NULL DEFAULT '',
    no_snapshots           BOOLEAN      NOT NULL DEFAULT FALSE,
    source_project_id      VARCHAR(255) NOT NULL DEFAULT '',
    destination_project_id VARCHAR(255) NOT NULL DEFAULT '',
    accepted               BOOLEAN      NOT NULL DEFAULT FALSE,
    created_at             DATETIME(6)  NOT NULL,
    updated_at             DATETIME(6)  NOT NULL,
    deleted                BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at             DATETIME(6)  NULL,
    PRIMARY KEY (id),
    KEY transfers_volume_id_idx (volume_id, deleted),
    KEY transfers_source_project_idx (source_project_id, deleted)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

ALTER TABLE volumes ADD COLUMN group_id VARCHAR(36) NOT NULL DEFAULT '';
CREATE INDEX volumes_group_id_idx ON volumes (group_id);
ALTER TABLE snapshots ADD COLUMN group_snapshot_id VARCHAR(36) NOT NULL DEFAULT '';
CREATE INDEX snapshots_group_snapshot_id_idx ON snapshots (group_snapshot_id);
