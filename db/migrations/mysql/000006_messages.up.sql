-- User messages (Cinder's messages table, API 3.3+).
CREATE TABLE IF NOT EXISTS messages (
    id            VARCHAR(36)  NOT NULL,
    project_id    VARCHAR(255) NOT NULL,
    request_id    VARCHAR(255) NOT NULL DEFAULT '',
    resource_type VARCHAR(36)  NOT NULL DEFAULT '',
    resource_uuid VARCHAR(36)  NOT NULL DEFAULT '',
    event_id      VARCHAR(255) NOT NULL,
    message_level VARCHAR(255) NOT NULL,
    user_message  VARCHAR(255) NOT NULL,
    created_at    DATETIME(6)  NOT NULL,
    expires_at    DATETIME(6)  NOT NULL,
    PRIMARY KEY (id),
    KEY messages_project_idx (project_id),
    KEY messages_expires_idx (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
