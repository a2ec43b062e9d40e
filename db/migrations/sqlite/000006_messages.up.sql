-- User messages (Cinder's messages table, API 3.3+).
CREATE TABLE IF NOT EXISTS messages (
    id            TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    request_id    TEXT NOT NULL DEFAULT '',
    resource_type TEXT NOT NULL DEFAULT '',
    resource_uuid TEXT NOT NULL DEFAULT '',
    event_id      TEXT NOT NULL,
    message_level TEXT NOT NULL,
    user_message  TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS messages_project_idx ON messages (project_id);
CREATE INDEX IF NOT EXISTS messages_expires_idx ON messages (expires_at);
