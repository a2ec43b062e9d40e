package api

import (
	"context"
	"math"
	"slices"

	"github.com/dlvm-project/dlvm/model"
)

// Capability values every pool reports.
const (
	VendorName              = model.VendorName
	StorageProtocol         = model.StorageProtocol
	DriverVersion           = model.DriverVersion
	defaultOverSubscription = model.DefaultOverSubscription
)

// dpvUp is the dpv state that counts towards capacity.
const dpvUp = "up"

// Pool is one dvg as get_pools reports it.
type Pool struct {
	Name         string         // "dlvm@<backend>#<dvg>"
	Capabilities map[string]any // Cinder's capability keys: pool_name, total_capacity_gb,
	// free_capacity_gb, provisioned_capacity_gb, allocated_capacity_gb,
	// max_over_subscription_ratio, reserved_percentage, thin_provisioning_support,
	// thick_provisioning_support, volume_backend_name, vendor_name ("dlvm"), driver_version,
	// storage_protocol ("iSCSI"), multiattach, timestamp, dpvs (count of up dpvs)
}

// PoolName is the Cinder host of a dvg: "dlvm@<backend>#<dvg>".
func PoolName(backend, dvg string) string { return model.VolumeServiceHost(backend) + "#" + dvg }

// Pools reports every dvg with capacity summed over its live dpvs (state up and a heartbeat no
// older than Options.HeartbeatTimeout): total/free from the dpvs' reports, provisioned (and
// allocated) from the legs recorded on all the dvg's dpvs, in GiB rounded to two decimals.
// Capacities are raw (before mirroring), as the dpvs report them. Ordered by dvg name.
func (a *API) Pools(ctx context.Context) ([]Pool, error) {
	s := a.db.Store()
	dvgs, err := s.ListDVGs(ctx)
	if err != nil {
		return nil, err
	}
	dpvs, err := s.ListDPVs(ctx, "")
	if err != nil {
		return nil, err
	}
	prov, err := s.ProvisionedBytesByDPV(ctx)
	if err != nil {
		return nil, err
	}
	now := a.opts.Now()
	fresh := now.Add(-a.opts.HeartbeatTimeout)
	out := make([]Pool, 0, len(dvgs))
	for _, g := range dvgs {
		var total, free, provisioned int64
		up := 0
		for _, p := range dpvs {
			if p.DVGID != g.ID {
				continue
			}
			provisioned += prov[p.ID]
			if p.State != dpvUp || p.HeartbeatAt.Before(fresh) {
				continue
			}
			up++
			total += p.TotalBytes
			free += p.FreeBytes
		}
		ratio := g.OverSubscription
		if ratio <= 0 {
			ratio = defaultOverSubscription
		}
		backend := g.BackendName
		if backend == "" {
			backend = a.opts.Backend
		}
		out = append(out, Pool{
			Name: PoolName(backend, g.Name),
			Capabilities: map[string]any{
				"pool_name":                   g.Name,
				"total_capacity_gb":           gib(total),
				"free_capacity_gb":            gib(free),
				"provisioned_capacity_gb":     gib(provisioned),
				"allocated_capacity_gb":       gib(provisioned),
				"max_over_subscription_ratio": ratio,
				"reserved_percentage":         g.ReservedPercentage,
				"thin_provisioning_support":   true,
				"thick_provisioning_support":  false,
				"volume_backend_name":         backend,
				"vendor_name":                 VendorName,
				"driver_version":              DriverVersion,
				"storage_protocol":            StorageProtocol,
				"multiattach":                 true,
				"timestamp":                   now.UTC().Format("2006-01-02T15:04:05Z07:00"),
				"dpvs":                        up,
			},
		})
	}
	return out, nil
}

// gib converts bytes to GiB rounded to two decimals.
func gib(b int64) float64 { return math.Round(float64(b)/float64(model.GiB)*100) / 100 }

// AvailabilityZones lists the zones that have at least one dvg (always at least DefaultAZ):
// DefaultAZ first, then the others sorted. A dvg with no zone is in DefaultAZ.
func (a *API) AvailabilityZones(ctx context.Context) ([]string, error) {
	dvgs, err := a.db.Store().ListDVGs(ctx)
	if err != nil {
		return nil, err
	}
	var others []string
	for _, g := range dvgs {
		if g.AvailabilityZone != "" && g.AvailabilityZone != a.opts.DefaultAZ && !slices.Contains(others, g.AvailabilityZone) {
			others = append(others, g.AvailabilityZone)
		}
	}
	slices.Sort(others)
	return append([]string{a.opts.DefaultAZ}, others...), nil
}

// checkZone refuses an availability zone that is not among AvailabilityZones. The default zone
// always is (it heads the list), so it costs no read.
func (a *API) checkZone(ctx context.Context, az string) error {
	if az == a.opts.DefaultAZ {
		return nil
	}
	zones, err := a.AvailabilityZones(ctx)
	if err != nil {
		return err
	}
	if !slices.Contains(zones, az) {
		return model.Errorf(model.ErrInvalid, "Availability zone '%s' is invalid.", az)
	}
	return nil
}
