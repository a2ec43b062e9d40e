-- What compute hosts' connectors report about the legs of the volumes they assemble.
CREATE TABLE IF NOT EXISTS leg_health (
    leg_id        VARCHAR(36)  NOT NULL,
    host          VARCHAR(255) NOT NULL,
    volume_id     VARCHAR(36)  NOT NULL,
    state         VARCHAR(16)  NOT NULL,
    dirty_regions BIGINT       NOT NULL DEFAULT 0,
    message       TEXT         NOT NULL,
    since         DATETIME(6)  NOT NULL,
    reported_at   DATETIME(6)  NOT NULL,
    PRIMARY KEY (leg_id, host),
    KEY leg_health_volume_idx (volume_id),
    KEY leg_health_host_idx (host)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
