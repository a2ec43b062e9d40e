package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/etc"
	"github.com/dlvm-project/dlvm/model"
)

// serviceRow is one os-services row a process keeps alive.
type serviceRow struct{ host, binary, zone string }

// volumeBackend is the backend part of the Cinder hosts dlvm writes ("dlvm@<backend>#<dvg>"):
// the first enabled backend's volume_backend_name.
func volumeBackend(cfg *etc.Config) string {
	if len(cfg.Backends) > 0 {
		return cfg.Backends[0].VolumeBackendName
	}
	return "dlvm"
}

// schedulerRows is the cinder-scheduler row of this node.
func schedulerRows(cfg *etc.Config) []serviceRow {
	return []serviceRow{{cfg.Default.Host, model.BinaryScheduler, cfg.Default.StorageAvailabilityZone}}
}

// volumeRows is the cinder-volume row of the backend every `dlvm volume` serves: all volume
// managers share it, as any of them runs any volume's workflows.
func volumeRows(cfg *etc.Config) []serviceRow {
	zone := cfg.Default.StorageAvailabilityZone
	if len(cfg.Backends) > 0 && cfg.Backends[0].AvailabilityZone != "" {
		zone = cfg.Backends[0].AvailabilityZone
	}
	return []serviceRow{{model.VolumeServiceHost(volumeBackend(cfg)), model.BinaryVolume, zone}}
}

// heartbeat writes rows at once and then every report_interval until ctx ends; it returns nil
// then. A failed write is logged and tried again at the next tick (the service shows down
// once service_down_time passes without one).
func heartbeat(ctx context.Context, d *db.DB, cfg *etc.Config, rows []serviceRow, log *slog.Logger) error {
	beat := func() {
		for _, r := range rows {
			wctx, cancel := context.WithTimeout(ctx, cfg.Default.ReportInterval)
			err := d.Store().HeartbeatService(wctx, r.host, r.binary, r.zone, time.Now())
			cancel()
			if err != nil && ctx.Err() == nil {
				log.Warn("service heartbeat failed", "host", r.host, "binary", r.binary, "err", err)
			}
		}
	}
	beat()
	t := time.NewTicker(cfg.Default.ReportInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			beat()
		}
	}
}
