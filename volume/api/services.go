package api

import (
	"context"
	"strings"

	"github.com/dlvm-project/dlvm/model"
)

// DefaultServiceDownTime is Cinder's service_down_time default.
const DefaultServiceDownTime = 60 // seconds

// ServiceStatus is a service row with its liveness: Up when its last heartbeat is younger than
// Options.ServiceDownTime.
type ServiceStatus struct {
	model.Service
	Up bool
}

func (a *API) withState(svcs []*model.Service) []ServiceStatus {
	now := a.opts.Now()
	out := make([]ServiceStatus, 0, len(svcs))
	for _, v := range svcs {
		age := now.Sub(v.UpdatedAt)
		if age < 0 {
			age = -age
		}
		out = append(out, ServiceStatus{Service: *v, Up: age <= a.opts.ServiceDownTime})
	}
	return out
}

// ListServices (admin) returns the services, filtered by host (Cinder's match: the host itself
// or any backend under it) and binary when not empty.
func (a *API) ListServices(ctx context.Context, c Caller, host, binary string) ([]ServiceStatus, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	svcs, err := a.db.Store().ListServices(ctx, host, binary)
	if err != nil {
		return nil, err
	}
	return a.withState(svcs), nil
}

// SetServiceDisabled (admin) enables or disables the service of exactly host and binary, with a
// reason when disabling ("" clears it). ErrNotFound if there is no such service. A disabled
// cinder-volume service gets no new volumes from the scheduler.
func (a *API) SetServiceDisabled(ctx context.Context, c Caller, host, binary string, disabled bool, reason string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if err := a.db.Store().SetServiceDisabled(ctx, host, binary, disabled, reason); err != nil {
		return err
	}
	a.log.Info("service updated", "host", host, "binary", binary, "disabled", disabled, "reason", reason)
	return nil
}

// FreezeHost (admin) freezes (or thaws) the cinder-volume services under host: the scheduler
// places no new volumes on a frozen backend. ErrInvalid when no cinder-volume service matches
// (Cinder answers 400 there).
func (a *API) FreezeHost(ctx context.Context, c Caller, host string, frozen bool) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if strings.TrimSpace(host) == "" {
		return model.Errorf(model.ErrInvalid, "Missing required element 'host' in request body.")
	}
	n, err := a.db.Store().SetServicesFrozen(ctx, host, model.BinaryVolume, frozen)
	if err != nil {
		return err
	}
	if n == 0 {
		return model.Errorf(model.ErrInvalid, "No service found with host=%s", host)
	}
	a.log.Info("host frozen state changed", "host", host, "frozen", frozen)
	return nil
}

// HostUsage (admin) is os-hosts' show: the usage of each project on an enabled cinder-volume
// host (exact name, e.g. "dlvm@dlvm-1"). ErrNotFound when there is no such enabled service.
func (a *API) HostUsage(ctx context.Context, c Caller, host string) ([]model.HostUsage, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	s := a.db.Store()
	v, err := s.GetService(ctx, host, model.BinaryVolume)
	if err != nil || v.Disabled {
		return nil, model.Errorf(model.ErrNotFound, "Host %s not found.", host)
	}
	return s.HostUsage(ctx, host)
}

// Capabilities is what GET /capabilities/{host} reports for one pool of a backend.
type Capabilities struct {
	Pool Pool
	// Properties are the backend-specific extra specs a volume type may set, by key, each with
	// title, description and type (Cinder's capabilities "properties").
	Properties map[string]map[string]string
}

// capabilityProperties are the extra specs dlvm honours beyond Cinder's standard ones.
var capabilityProperties = map[string]map[string]string{
	model.SpecMirrors:   {"title": "Mirrors", "description": "Number of legs mirroring each stripe group (1 to 3).", "type": "integer"},
	model.SpecStripes:   {"title": "Stripes", "description": "Number of mirror groups striped together (1 to 16).", "type": "integer"},
	model.SpecChunkKiB:  {"title": "Stripe chunk", "description": "Stripe chunk size in KiB (a power of two, 4 to 4096).", "type": "integer"},
	"thin_provisioning": {"title": "Thin Provisioning", "description": "Sets thin provisioning.", "type": "boolean"},
	"multiattach":       {"title": "Multi-attach", "description": "Allows a volume to attach to several servers.", "type": "boolean"},
}

// BackendCapabilities (admin) returns the capabilities of the pool named host when it names one
// ("dlvm@b#dvg"), else of the first pool of backend host ("dlvm@b"), as get_pools reports them.
// ErrNotFound when no pool matches.
func (a *API) BackendCapabilities(ctx context.Context, c Caller, host string) (*Capabilities, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	pools, err := a.Pools(ctx)
	if err != nil {
		return nil, err
	}
	for _, p := range pools {
		backendHost, _, _ := strings.Cut(p.Name, "#")
		if p.Name == host || backendHost == host {
			return &Capabilities{Pool: p, Properties: capabilityProperties}, nil
		}
	}
	return nil, model.Errorf(model.ErrNotFound, "Can't find service: %s", host)
}
