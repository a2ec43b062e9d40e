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

// volumeRows are the cinder-volume rows of the backends every `dlvm volume` serves, one per
// enabled backend: all volume managers share them, as any of them runs any volume's workflows.
func volumeRows(cfg *etc.Config) []serviceRow {
	if len(cfg.Backends) == 0 {
		return []serviceRow{{model.VolumeServiceHost(volumeBackend(cfg)), model.BinaryVolume, cfg.Default.StorageAvailabilityZone}}
	}
	var rows []serviceRow
	for _, b := range cfg.Backends {
		zone := cfg.Default.StorageAvailabilityZone
		if b.AvailabilityZone != "" {
			zone = b.AvailabilityZone
		}
		rows = append(rows, serviceRow{model.VolumeServiceHost(b.VolumeBackendName), model.BinaryVolume, zone})
	}
	return rows
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
