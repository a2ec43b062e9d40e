-- Admin resources: QoS specs and their keys, private type access, type encryption, services.
CREATE TABLE IF NOT EXISTS qos_specs (
    id          VARCHAR(36)  NOT NULL,
    name        VARCHAR(255) NOT NULL,
    consumer    VARCHAR(16)  NOT NULL DEFAULT 'back-end',
    created_at  DATETIME(6)  NOT NULL,
    updated_at  DATETIME(6)  NOT NULL,
    deleted     BOOLEAN      NOT NULL DEFAULT FALSE,
    deleted_at  DATETIME(6)  NULL,
    -- '' while the specs live, their id once deleted: names are unique among live specs.
    deleted_key VARCHAR(36)  NOT NULL DEFAULT '',
    PRIMARY KEY (id),
    UNIQUE KEY qos_specs_name_uniq (name, deleted_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS qos_spec_keys (
    qos_specs_id VARCHAR(36)  NOT NULL,
    spec_key     VARCHAR(255) NOT NULL,
    spec_value   VARCHAR(255) NOT NULL DEFAULT '',
    PRIMARY KEY (qos_specs_id, spec_key),
    CONSTRAINT qos_spec_keys_fk FOREIGN KEY (qos_specs_id) REFERENCES qos_specs (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS volume_type_projects (
    volume_type_id VARCHAR(36)  NOT NULL,
    project_id     VARCHAR(255) NOT NULL,
    created_at     DATETIME(6)  NOT NULL,
    PRIMARY KEY (volume_type_id, project_id),
    KEY volume_type_projects_project_idx (project_id),
    CONSTRAINT volume_type_projects_fk FOREIGN KEY (volume_type_id) REFERENCES volume_types (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS volume_type_encryption (
    volume_type_id   VARCHAR(36)  NOT NULL,
    encryption_id    VARCHAR(36)  NOT NULL,
    provider         VARCHAR(255) NOT NULL,
    cipher           VARCHAR(255) NOT NULL DEFAULT '',
    key_size         INT          NULL,
    control_location VARCHAR(16)  NOT NULL DEFAULT 'front-end',
    created_at       DATETIME(6)  NOT NULL,
    updated_at       DATETIME(6)  NOT NULL,
    PRIMARY KEY (volume_type_id),
    CONSTRAINT volume_type_encryption_fk FOREIGN KEY (volume_type_id) REFERENCES volume_types (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS services (
    host               VARCHAR(255) NOT NULL,
    binary_name       VARCHAR(64)  NOT NULL,
    availability_zone  VARCHAR(255) NOT NULL DEFAULT '',
    disabled           BOOLEAN      NOT NULL DEFAULT FALSE,
    disabled_reason    VARCHAR(255) NOT NULL DEFAULT '',
    frozen             BOOLEAN      NOT NULL DEFAULT FALSE,
    replication_status VARCHAR(36)  NOT NULL DEFAULT 'disabled',
    active_backend_id  VARCHAR(255) NOT NULL DEFAULT '',
    created_at         DATETIME(6)  NOT NULL,
    -- the last heartbeat
    updated_at         DATETIME(6)  NOT NULL,
    PRIMARY KEY (host, binary_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
