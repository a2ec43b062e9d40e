package daemon

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"github.com/dlvm-project/dlvm/connector"
)

// HealthReport is what a connector daemon reports about the legs of every volume it assembles;
// its JSON is the volume manager's leg_health message (rpc.LegHealthReport). Volumes is the
// full list: a volume missing from it is no longer assembled on Host.
type HealthReport struct {
	Host    string         `json:"host"`
	Volumes []VolumeHealth `json:"volumes"`
}

// VolumeHealth is one volume's legs in a HealthReport.
type VolumeHealth struct {
	VolumeID string                `json:"volume_id"`
	Legs     []connector.LegHealth `json:"legs"`
}

// track records that a volume is (or is no longer) assembled here.
func (s *Server) track(volumeID string, attached bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if attached {
		s.volumes[volumeID] = true
	} else {
		delete(s.volumes, volumeID)
	}
}

// Report returns the health of every volume attached through this server. A volume the engine
// no longer knows (torn down behind the server's back) is dropped from the list.
func (s *Server) Report(ctx context.Context, host string) HealthReport {
	s.mu.Lock()
	ids := make([]string, 0, len(s.volumes))
	for id := range s.volumes {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	sort.Strings(ids)
	r := HealthReport{Host: host, Volumes: []VolumeHealth{}}
	for _, id := range ids {
		hs, err := s.eng.Health(ctx, id)
		if err != nil { // being detached, or torn down behind the server's back
			s.log.Debug("no health for a tracked volume", "volume_id", id, "err", err)
			continue
		}
		sort.Slice(hs, func(i, j int) bool { return hs[i].LegID < hs[j].LegID })
		r.Volumes = append(r.Volumes, VolumeHealth{VolumeID: id, Legs: hs})
	}
	return r
}

// ReportOptions say where health reports go. cmd fills Topic and Method with rpc.TopicVolume
// and rpc.MethodLegHealth.
type ReportOptions struct {
	Topic    string
	Method   string
	Interval time.Duration // default 5 s
}

// RunHealthReports casts the server's Report every interval until ctx ends, and at once
// whenever a leg changes state between two looks (checked every second), so the manager hears
// of a failed leg within about a second. Failures are logged and retried at the next tick.
func RunHealthReports(ctx context.Context, c Caster, s *Server, host string, opts ReportOptions, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = 5 * time.Second
	}
	check := min(time.Second, opts.Interval)
	t := time.NewTicker(check)
	defer t.Stop()
	var last map[string]string
	var sent time.Time
	for {
		r := s.Report(ctx, host)
		states := map[string]string{}
		for _, v := range r.Volumes {
			for _, l := range v.Legs {
				states[v.VolumeID+"/"+l.LegID] = l.State
			}
		}
		if !sameStates(states, last) || time.Since(sent) >= opts.Interval {
			if err := c.Cast(ctx, opts.Topic, opts.Method, r); err != nil {
				if ctx.Err() == nil {
					log.Warn("connector health report: cast", "host", host, "err", err)
				}
			} else {
				last, sent = states, time.Now()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func sameStates(a, b map[string]string) bool {
	if len(a) != len(b) || b == nil {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
