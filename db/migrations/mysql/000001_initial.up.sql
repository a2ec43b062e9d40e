CREATE TABLE IF NOT EXISTS volumes (
    id                  VARCHAR(36)  NOT NULL,
    project_id          VARCHAR(255) NOT NULL DEFAULT '',
    user_id             VARCHAR(255) NOT NULL DEFAULT '',
    display_name        VARCHAR(255) NOT NULL DEFAULT '',
    display_description TEXT         NOT NULL,
    size                INT          NOT NULL DEFAULT 0,
    status              VARCHAR(32)  NOT NULL DEFAULT '',
    attach_status       VARCHAR(32)  NOT NULL DEFAULT '',
    migration_status    VARCHAR(32)  NOT NULL DEFAULT '',
    availability_zone   VARCHAR(255) NOT NULL DEFAULT '',
    volume_type_id      VARCHAR(36)  NOT NULL DEFAULT '',
    snapshot_id         VARCHAR(36)  NOT NULL DEFAULT '',
    source_volid        VARCHAR(36)  NOT NULL DEFAULT '',
    bootable            BOOLEAN      NOT NULL DEFAULT FALSE,
    read_only           BOOLEAN      NOT NULL DEFAULT FALSE,
    multiattach         BOOLEAN      NOT NULL DEFAULT FALSE,
    host                VARCHAR(255) NOT NULL DEFAULT '',
    dvg_id              VARCHAR(36)  NOT NULL DEFAULT '',
    layout_mirrors      INT          NOT NULL DEFAULT 0,
    layout_stripes      INT          NOT NULL DEFAULT 0,
    layout_chunk_kib    INT          NOT NULL DEFAULT 0,
    epoch               BIGINT       NOT NULL DEFAULT 0,
    error_reason        TEXT         NOT NULL,
    created_at          DATETIME(6)  NOT NULL,
    updated_at          DATETIME(6)  NOT NULL,
    launched_at         DATETIME(6)  NULL,
    terminated_at       DATETIME(6)  NULL,
    deleted             BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at          DATETIME(6)  NULL,
    PRIMARY KEY (id),
    KEY volumes_project_id_idx (project_id, deleted),
    KEY volumes_status_idx (status),
    KEY volumes_created_at_idx (created_at),
    KEY volumes_volume_type_id_idx (volume_type_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS volume_metadata (
    volume_id  VARCHAR(36)  NOT NULL,
    meta_key   VARCHAR(255) NOT NULL,
    meta_value VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (volume_id, meta_key),
    KEY volume_metadata_kv_idx (meta_key, meta_value),
    CONSTRAINT volume_metadata_volume_fk FOREIGN KEY (volume_id) REFERENCES volumes (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS snapshots (
    id                  VARCHAR(36)  NOT NULL,
    project_id          VARCHAR(255) NOT NULL DEFAULT '',
    user_id             VARCHAR(255) NOT NULL DEFAULT '',
    volume_id           VARCHAR(36)  NOT NULL DEFAULT '',
    display_name        VARCHAR(255) NOT NULL DEFAULT '',
    display_description TEXT         NOT NULL,
    volume_size         INT          NOT NULL DEFAULT 0,
    status              VARCHAR(32)  NOT NULL DEFAULT '',
    progress            VARCHAR(255) NOT NULL DEFAULT '',
    error_reason        TEXT         NOT NULL,
    created_at          DATETIME(6)  NOT NULL,
    updated_at          DATETIME(6)  NOT NULL,
    deleted             BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at          DATETIME(6)  NULL,
    PRIMARY KEY (id),
    KEY snapshots_project_id_idx (project_id, deleted),
    KEY snapshots_volume_id_idx (volume_id),
    KEY snapshots_status_idx (status),
    KEY snapshots_created_at_idx (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS snapshot_metadata (
    snapshot_id VARCHAR(36)  NOT NULL,
    meta_key    VARCHAR(255) NOT NULL,
    meta_value  VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (snapshot_id, meta_key),
    CONSTRAINT snapshot_metadata_snapshot_fk FOREIGN KEY (snapshot_id) REFERENCES snapshots (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS volume_types (
    id           VARCHAR(36)  NOT NULL,
    name         VARCHAR(255) NOT NULL,
    description  TEXT         NOT NULL,
    is_public    BOOLEAN      NOT NULL DEFAULT TRUE,
    qos_specs_id VARCHAR(36)  NOT NULL DEFAULT '',
    created_at   DATETIME(6)  NOT NULL,
    updated_at   DATETIME(6)  NOT NULL,
    deleted      BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at   DATETIME(6)  NULL,
    -- '' while the type lives, its id once deleted: names are unique among live types.
    deleted_key  VARCHAR(36)  NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    UNIQUE KEY volume_types_name_uniq (name, deleted_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS volume_type_extra_specs (
    volume_type_id VARCHAR(36)  NOT NULL,
    spec_key       VARCHAR(255) NOT NULL,
    spec_value     VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (volume_type_id, spec_key),
    CONSTRAINT volume_type_extra_specs_type_fk FOREIGN KEY (volume_type_id) REFERENCES volume_types (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS quotas (
    project_id VARCHAR(255) NOT NULL,
    resource   VARCHAR(255) NOT NULL,
    hard_limit BIGINT       NOT NULL,
    created_at DATETIME(6)  NOT NULL,
    updated_at DATETIME(6)  NOT NULL,
    PRIMARY KEY (project_id, resource)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS quota_usages (
    project_id VARCHAR(255) NOT NULL,
    resource   VARCHAR(255) NOT NULL,
    in_use     BIGINT       NOT NULL DEFAULT 0,
    reserved   BIGINT       NOT NULL DEFAULT 0,
    updated_at DATETIME(6)  NULL,
    PRIMARY KEY (project_id, resource)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS dvgs (
    id                  VARCHAR(36)  NOT NULL,
    name                VARCHAR(255) NOT NULL DEFAULT '',
    backend_name        VARCHAR(255) NOT NULL DEFAULT '',
    availability_zone   VARCHAR(255) NOT NULL DEFAULT '',
    over_subscription   DOUBLE       NOT NULL DEFAULT 0,
    reserved_percentage INT          NOT NULL DEFAULT 0,
    created_at          DATETIME(6)  NOT NULL,
    updated_at          DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY dvgs_name_idx (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS dpvs (
    id                VARCHAR(36)  NOT NULL,
    name              VARCHAR(255) NOT NULL DEFAULT '',
    dvg_id            VARCHAR(36)  NOT NULL DEFAULT '',
    url               VARCHAR(1024) NOT NULL DEFAULT '',
    location          VARCHAR(255) NOT NULL DEFAULT '',
    pool_type         VARCHAR(32)  NOT NULL DEFAULT '',
    target_portal     VARCHAR(255) NOT NULL DEFAULT '',
    total_bytes       BIGINT       NOT NULL DEFAULT 0,
    free_bytes        BIGINT       NOT NULL DEFAULT 0,
    provisioned_bytes BIGINT       NOT NULL DEFAULT 0,
    state             VARCHAR(32)  NOT NULL DEFAULT '',
    heartbeat_at      DATETIME(6)  NULL,
    created_at        DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY dpvs_dvg_id_idx (dvg_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS legs (
    id            VARCHAR(36)  NOT NULL,
    owner_kind    VARCHAR(16)  NOT NULL DEFAULT '',
    owner_id      VARCHAR(36)  NOT NULL,
    group_idx     INT          NOT NULL DEFAULT 0,
    mirror_idx    INT          NOT NULL DEFAULT 0,
    dpv_id        VARCHAR(36)  NOT NULL DEFAULT '',
    size_bytes    BIGINT       NOT NULL DEFAULT 0,
    source_leg_id VARCHAR(36)  NOT NULL DEFAULT '',
    status        VARCHAR(32)  NOT NULL DEFAULT '',
    created_at    DATETIME(6)  NOT NULL,
    updated_at    DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY legs_owner_idx (owner_id, status),
    KEY legs_dpv_idx (dpv_id, status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS workflows (
    id          VARCHAR(36)  NOT NULL,
    kind        VARCHAR(64)  NOT NULL DEFAULT '',
    volume_id   VARCHAR(36)  NOT NULL DEFAULT '',
    snapshot_id VARCHAR(36)  NOT NULL DEFAULT '',
    state       VARCHAR(32)  NOT NULL DEFAULT '',
    step        INT          NOT NULL DEFAULT 0,
    params      MEDIUMBLOB   NULL,
    owner       VARCHAR(255) NOT NULL DEFAULT '',
    attempts    INT          NOT NULL DEFAULT 0,
    error       TEXT         NOT NULL,
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY workflows_state_idx (state, created_at),
    KEY workflows_volume_id_idx (volume_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
