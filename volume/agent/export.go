package agent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/target"
)

// ResyncRequest is the body of POST /v1/resync: the manager's view of what this dpv must
// export. A leg named with no access is unexported.
type ResyncRequest struct {
	Legs []target.LegExports `json:"legs"`
}

// ResyncResult is the answer of POST /v1/resync.
type ResyncResult struct {
	Rebuilt []string        `json:"rebuilt"` // legs whose target was missing and was created
	Unknown []string        `json:"unknown"` // dlvm targets present that the manager did not name (left alone)
	Failed  []ResyncFailure `json:"failed,omitempty"`
}

// ResyncFailure is a leg a resync could not bring to the desired state.
type ResyncFailure struct {
	LegID string `json:"leg_id"`
	Error string `json:"error"`
}

// ExportsAnswer is the answer of GET /v1/exports.
type ExportsAnswer struct {
	Legs []target.LegExports `json:"legs"`
}

// initiatorLister is what resync uses, when the Target has it, to deny initiators tgtd allows
// but the manager no longer wants (target.Tgt has it).
type initiatorLister interface {
	Initiators(ctx context.Context, legID string) ([]string, error)
}

// exporter is the export side of the agent: the Target, the persisted state, one lock that
// serializes target changes with their state updates.
type exporter struct {
	tgt   target.Target
	state *target.State
	mu    sync.Mutex
}

func newExporter(opts ServerOptions) *exporter {
	if opts.Target == nil {
		return nil
	}
	st := opts.Exports
	if st == nil {
		st, _ = target.OpenState("") // in memory; cannot fail
	}
	return &exporter{tgt: opts.Target, state: st}
}

func (s *Server) exportRoutes(r *mux.Router) {
	r.HandleFunc("/v1/legs/{id}/export", s.withExports(s.putExport)).Methods(http.MethodPut)
	r.HandleFunc("/v1/legs/{id}/export", s.withExports(s.deleteExport)).Methods(http.MethodDelete)
	r.HandleFunc("/v1/legs/{id}/export/{initiator}", s.withExports(s.deleteInitiator)).Methods(http.MethodDelete)
	r.HandleFunc("/v1/exports", s.withExports(s.listExports)).Methods(http.MethodGet)
	r.HandleFunc("/v1/resync", s.withExports(s.resync)).Methods(http.MethodPost)
}

// withExports answers 501 (kind "invalid") when the agent has no Target.
func (s *Server) withExports(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if s.exp == nil {
			_, body := toWire(model.Errorf(model.ErrInvalid, "this dpv agent exports no legs (no iSCSI target configured)"))
			s.reply(w, http.StatusNotImplemented, body)
			return
		}
		h(w, req)
	}
}

// exportLeg exports leg id (which must exist in the pool) and allows a, then records a.
// Idempotent.
func (s *Server) exportLeg(ctx context.Context, id string, a target.Access) (target.Export, error) {
	if err := pool.ValidID(id); err != nil {
		return target.Export{}, err
	}
	if err := target.ValidAccess(a); err != nil {
		return target.Export{}, err
	}
	if _, err := s.pool.Stat(ctx, id); err != nil {
		return target.Export{}, err
	}
	s.exp.mu.Lock()
	defer s.exp.mu.Unlock()
	exp, err := s.exp.tgt.Export(ctx, id, s.pool.DevicePath(id))
	if err != nil {
		return target.Export{}, err
	}
	if err := s.exp.tgt.Allow(ctx, id, a); err != nil {
		return target.Export{}, err
	}
	if err := s.exp.state.Allow(id, a); err != nil {
		return target.Export{}, err
	}
	s.log.Info("leg export allowed", "leg_id", id, "initiator", a.InitiatorIQN, "target_iqn", exp.IQN)
	return exp, nil
}

// resizeExport makes the leg's exported LUN show the leg's current size (after an extend);
// a leg that is not exported, or an agent without a Target, has nothing to resize.
func (s *Server) resizeExport(ctx context.Context, id string) error {
	if s.exp == nil {
		return nil
	}
	s.exp.mu.Lock()
	defer s.exp.mu.Unlock()
	return s.exp.tgt.Resize(ctx, id, s.pool.DevicePath(id))
}

func (s *Server) putExport(w http.ResponseWriter, req *http.Request) {
	var a target.Access
	if err := decode(req, &a); err != nil {
		s.fail(w, req, err)
		return
	}
	exp, err := s.exportLeg(req.Context(), mux.Vars(req)["id"], a)
	if err != nil {
		s.fail(w, req, err)
		return
	}
	s.reply(w, http.StatusOK, exp)
}

func (s *Server) deleteInitiator(w http.ResponseWriter, req *http.Request) {
	id, initiator := mux.Vars(req)["id"], mux.Vars(req)["initiator"]
	err := pool.ValidID(id)
	if err == nil {
		err = target.ValidAccess(target.Access{InitiatorIQN: initiator})
	}
	if err == nil {
		s.exp.mu.Lock()
		err = s.exp.tgt.Deny(req.Context(), id, initiator)
		if err == nil {
			err = s.exp.state.Deny(id, initiator)
		}
		s.exp.mu.Unlock()
	}
	if err != nil {
		s.fail(w, req, err)
		return
	}
	s.log.Info("leg export denied", "leg_id", id, "initiator", initiator)
	w.WriteHeader(http.StatusNoContent)
}

// unexportLeg removes leg id's target and forgets it. A no-op without a Target. Missing: nil.
func (s *Server) unexportLeg(ctx context.Context, id string) error {
	if s.exp == nil {
		return nil
	}
	if err := pool.ValidID(id); err != nil {
		return err
	}
	s.exp.mu.Lock()
	defer s.exp.mu.Unlock()
	if err := s.exp.tgt.Unexport(ctx, id); err != nil {
		return err
	}
	return s.exp.state.Remove(id)
}

func (s *Server) deleteExport(w http.ResponseWriter, req *http.Request) {
	id := mux.Vars(req)["id"]
	if err := s.unexportLeg(req.Context(), id); err != nil {
		s.fail(w, req, err)
		return
	}
	s.log.Info("leg unexported", "leg_id", id)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) listExports(w http.ResponseWriter, _ *http.Request) {
	s.reply(w, http.StatusOK, ExportsAnswer{Legs: s.exp.state.Legs()})
}

func (s *Server) resync(w http.ResponseWriter, req *http.Request) {
	var body ResyncRequest
	if err := decode(req, &body); err != nil {
		s.fail(w, req, err)
		return
	}
	res, err := s.Resync(req.Context(), body.Legs)
	if err != nil {
		s.fail(w, req, err)
		return
	}
	s.reply(w, http.StatusOK, res)
}

// Resync makes the target match want for the legs named there: targets missing are rebuilt,
// initiators added or denied, the state file rewritten for those legs; a leg with no access
// is unexported. dlvm targets present but not named are reported as Unknown, never removed.
// A leg that fails is reported in Failed and the others go on; err is only for a target that
// cannot be listed.
func (s *Server) Resync(ctx context.Context, want []target.LegExports) (ResyncResult, error) {
	if s.exp == nil {
		return ResyncResult{}, model.Errorf(model.ErrInvalid, "this dpv agent exports no legs")
	}
	present, err := s.exp.tgt.List(ctx)
	if err != nil {
		return ResyncResult{}, err
	}
	res := ResyncResult{Rebuilt: []string{}, Unknown: []string{}}
	named := map[string]bool{}
	for _, l := range want {
		named[l.LegID] = true
		rebuilt, err := s.resyncLeg(ctx, l, slices.Contains(present, l.LegID))
		if err != nil {
			s.log.Warn("resync leg failed", "leg_id", l.LegID, "err", err)
			res.Failed = append(res.Failed, ResyncFailure{LegID: l.LegID, Error: err.Error()})
			continue
		}
		if rebuilt {
			res.Rebuilt = append(res.Rebuilt, l.LegID)
		}
	}
	for _, id := range present {
		if !named[id] {
			res.Unknown = append(res.Unknown, id)
		}
	}
	s.log.Info("exports resynced", "legs", len(want), "rebuilt", res.Rebuilt, "unknown", res.Unknown, "failed", len(res.Failed))
	return res, nil
}

// resyncLeg brings one leg to l.Access; rebuilt reports a target created that was missing.
func (s *Server) resyncLeg(ctx context.Context, l target.LegExports, present bool) (rebuilt bool, err error) {
	if err := pool.ValidID(l.LegID); err != nil {
		return false, err
	}
	if len(l.Access) == 0 {
		return false, s.unexportLeg(ctx, l.LegID)
	}
	for _, a := range l.Access {
		if err := target.ValidAccess(a); err != nil {
			return false, err
		}
	}
	if _, err := s.pool.Stat(ctx, l.LegID); err != nil {
		return false, err
	}
	s.exp.mu.Lock()
	defer s.exp.mu.Unlock()
	if _, err := s.exp.tgt.Export(ctx, l.LegID, s.pool.DevicePath(l.LegID)); err != nil {
		return false, err
	}
	for _, a := range l.Access {
		if err := s.exp.tgt.Allow(ctx, l.LegID, a); err != nil {
			return !present, err
		}
	}
	stale := map[string]bool{}
	for _, a := range s.exp.state.Access(l.LegID) {
		stale[a.InitiatorIQN] = true
	}
	if il, ok := s.exp.tgt.(initiatorLister); ok {
		live, err := il.Initiators(ctx, l.LegID)
		if err != nil {
			return !present, err
		}
		for _, i := range live {
			stale[i] = true
		}
	}
	for _, a := range l.Access {
		delete(stale, a.InitiatorIQN)
	}
	for i := range stale {
		if err := s.exp.tgt.Deny(ctx, l.LegID, i); err != nil {
			return !present, err
		}
	}
	return !present, s.exp.state.Set(l.LegID, l.Access)
}

// RestoreExports re-exports every leg of the state file (after EnsureDaemon at startup, and
// from Tgt.Watch's onRestart when tgtd was restarted empty). A leg gone from the pool is dropped
// from the state; other failures are joined and the rest go on. A no-op without a Target.
func (s *Server) RestoreExports(ctx context.Context) error {
	if s.exp == nil {
		return nil
	}
	var errs []error
	restored := 0
	for _, l := range s.exp.state.Legs() {
		if _, err := s.pool.Stat(ctx, l.LegID); errors.Is(err, model.ErrNotFound) {
			s.log.Warn("exported leg is gone from the pool, forgetting its export", "leg_id", l.LegID)
			errs = append(errs, s.unexportLeg(ctx, l.LegID))
			continue
		}
		for _, a := range l.Access {
			if _, err := s.exportLeg(ctx, l.LegID, a); err != nil {
				errs = append(errs, fmt.Errorf("restore export of leg %s to %s: %w", l.LegID, a.InitiatorIQN, err))
			}
		}
		restored++
	}
	s.log.Info("exports restored", "legs", restored)
	return errors.Join(errs...)
}
