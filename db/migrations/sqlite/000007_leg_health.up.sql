-- What compute hosts' connectors report about the legs of the volumes they assemble.
CREATE TABLE IF NOT EXISTS leg_health (
    leg_id        TEXT    NOT NULL,
    host          TEXT    NOT NULL,
    volume_id     TEXT    NOT NULL,
    state         TEXT    NOT NULL,
    dirty_regions INTEGER NOT NULL DEFAULT 0,
    message       TEXT    NOT NULL,
    since         TEXT    NOT NULL,
    reported_at   TEXT    NOT NULL,
    PRIMARY KEY (leg_id, host)
);
CREATE INDEX IF NOT EXISTS leg_health_volume_idx ON leg_health (volume_id);
CREATE INDEX IF NOT EXISTS leg_health_host_idx ON leg_health (host);
