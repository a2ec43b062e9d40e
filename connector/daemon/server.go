// Package daemon is the `dlvm connector` process of a compute host: an HTTP API over a
// connector.Engine that the volume manager calls to assemble (attach), tear down (detach),
// grow (extend), inspect (health) and pause (quiesce) volumes on this host, a client for that
// API, and the heartbeat that tells the manager where the daemon is and which initiator the
// host uses. It imports no server package: the heartbeat goes through a small Caster.
//
// Wire format: JSON bodies; errors are {"error":{"message":..., "temporary":bool}} with 400
// (bad request), 401 (signature, see internal/agentauth), 409 (stale epoch), 404 (unknown volume) or 500/503 (engine failures, 503 when
// retrying may help).
package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/dlvm-project/dlvm/connector"
	"github.com/dlvm-project/dlvm/internal/agentauth"
)

// Quiesce bounds: a pause the caller forgets to end is ended by the daemon.
const (
	DefaultQuiesceTimeout = 30 * time.Second
	MaxQuiesceTimeout     = 5 * time.Minute
)

// ErrUnknownVolume is returned (404 on the wire) for a volume the engine has not attached.
var ErrUnknownVolume = errors.New("volume not attached on this host")

// ErrTemporary marks engine failures worth retrying (503 on the wire).
var ErrTemporary = errors.New("temporary failure")

// ServerOptions configures a Server.
type ServerOptions struct {
	Token string // when set, the shared secret every request must be signed with (agentauth; else 401)
	// Fence refuses calls carrying a lower epoch than one seen for the volume (409); nil: an
	// in-memory fence.
	Fence *agentauth.Fence
	// ReplayWindow bounds signed requests' clock difference; 0: agentauth.DefaultWindow.
	ReplayWindow time.Duration
	// AfterFunc schedules the automatic end of a quiesce (nil: time.AfterFunc); tests inject
	// a manual clock.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// Server serves the connector API over an engine. Safe for concurrent use.
type Server struct {
	eng  connector.Engine
	opts ServerOptions
	log  *slog.Logger

	mu      sync.Mutex
	paused  map[string]*pause // volume id -> active quiesce
	volumes map[string]bool   // volumes attached through this server (health reports)
	handler http.Handler
}

type pause struct {
	resume func()
	stop   func() bool
	once   sync.Once
}

func (p *pause) end() {
	p.once.Do(func() {
		p.stop()
		p.resume()
	})
}

// NewServer returns a server over eng.
func NewServer(eng connector.Engine, opts ServerOptions, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.AfterFunc == nil {
		opts.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if opts.Fence == nil {
		opts.Fence, _ = agentauth.OpenFence("") // in memory: cannot fail
	}
	s := &Server{eng: eng, opts: opts, log: log, paused: map[string]*pause{}, volumes: map[string]bool{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/attach", s.attach)
	mux.HandleFunc("POST /v1/detach", s.detach)
	mux.HandleFunc("POST /v1/extend", s.extend)
	mux.HandleFunc("POST /v1/replace-leg", s.replaceLeg)
	mux.HandleFunc("GET /v1/health/{volume_id}", s.health)
	mux.HandleFunc("POST /v1/quiesce/{volume_id}", s.quiesce)
	mux.HandleFunc("POST /v1/resume/{volume_id}", s.resume)
	s.handler = agentauth.NewVerifier([]byte(opts.Token), agentauth.VerifierOptions{Window: opts.ReplayWindow}).Middleware(
		opts.Fence.Middleware(mux, s.refuse), s.refuse)
	return s
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serve) }

// Close ends every active quiesce (I/O resumes).
func (s *Server) Close() {
	s.mu.Lock()
	ps := s.paused
	s.paused = map[string]*pause{}
	s.mu.Unlock()
	for _, p := range ps {
		p.end()
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// refuse answers a call that failed authentication (401) or fencing (409 stale, 400 malformed).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Warn("connector call refused", "method", r.Method, "path", r.URL.Path, "err", err)
	switch {
	case errors.Is(err, agentauth.ErrUnauthenticated):
		writeError(w, http.StatusUnauthorized, "agent call not authenticated", false)
	case errors.Is(err, agentauth.ErrStaleEpoch):
		writeError(w, http.StatusConflict, err.Error(), false)
	default:
		writeError(w, http.StatusBadRequest, err.Error(), false)
	}
}

// DetachRequest is the body of POST /v1/detach.
type DetachRequest struct {
	VolumeID string `json:"volume_id"`
}

// QuiesceRequest is the (optional) body of POST /v1/quiesce/{volume_id}.
type QuiesceRequest struct {
	TimeoutSeconds int `json:"timeout_seconds"` // 0: DefaultQuiesceTimeout; capped at MaxQuiesceTimeout
}

// ReplaceLegRequest is the body of POST /v1/replace-leg.
type ReplaceLegRequest struct {
	VolumeID string            `json:"volume_id"`
	OldLegID string            `json:"old_leg_id"`
	Leg      connector.PlanLeg `json:"leg"`
}

func (s *Server) attach(w http.ResponseWriter, r *http.Request) {
	var p connector.Plan
	if !decode(w, r, &p) || !validPlan(w, p) {
		return
	}
	a, err := s.eng.Attach(r.Context(), p)
	if err != nil {
		s.fail(w, r, "attach", p.VolumeID, err)
		return
	}
	s.track(p.VolumeID, true)
	s.log.Info("volume attached", "volume_id", p.VolumeID, "device_path", a.DevicePath)
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) detach(w http.ResponseWriter, r *http.Request) {
	var req DetachRequest
	if !decode(w, r, &req) {
		return
	}
	if !validID(w, req.VolumeID) {
		return
	}
	s.endPause(req.VolumeID)
	if err := s.eng.Detach(r.Context(), req.VolumeID); err != nil {
		s.fail(w, r, "detach", req.VolumeID, err)
		return
	}
	s.track(req.VolumeID, false)
	s.log.Info("volume detached", "volume_id", req.VolumeID)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) extend(w http.ResponseWriter, r *http.Request) {
	var p connector.Plan
	if !decode(w, r, &p) || !validPlan(w, p) {
		return
	}
	if err := s.eng.Extend(r.Context(), p); err != nil {
		s.fail(w, r, "extend", p.VolumeID, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) replaceLeg(w http.ResponseWriter, r *http.Request) {
	var req ReplaceLegRequest
	if !decode(w, r, &req) || !validID(w, req.VolumeID) {
		return
	}
	if req.OldLegID == "" || req.Leg.LegID == "" {
		writeError(w, http.StatusBadRequest, "old_leg_id and leg.leg_id are required", false)
		return
	}
	if err := s.eng.ReplaceLeg(r.Context(), req.VolumeID, req.OldLegID, req.Leg); err != nil {
		s.fail(w, r, "replace leg", req.VolumeID, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("volume_id")
	hs, err := s.eng.Health(r.Context(), id)
	if err != nil {
		s.fail(w, r, "health", id, err)
		return
	}
	if hs == nil {
		hs = []connector.LegHealth{}
	}
	writeJSON(w, http.StatusOK, hs)
}

// quiesce pauses I/O on a volume until resume or the timeout, whichever comes first. A second
// quiesce of a paused volume only moves the deadline.
func (s *Server) quiesce(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("volume_id")
	var req QuiesceRequest
	if r.ContentLength != 0 && !decode(w, r, &req) {
		return
	}
	d := time.Duration(req.TimeoutSeconds) * time.Second
	if d <= 0 {
		d = DefaultQuiesceTimeout
	}
	d = min(d, MaxQuiesceTimeout)

	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.paused[id]; ok {
		old.stop()
		old.stop = s.opts.AfterFunc(d, func() { s.autoResume(id, old) })
		w.WriteHeader(http.StatusNoContent)
		return
	}
	resume, err := s.eng.Quiesce(r.Context(), id)
	if err != nil {
		s.fail(w, r, "quiesce", id, err)
		return
	}
	p := &pause{resume: resume}
	p.stop = s.opts.AfterFunc(d, func() { s.autoResume(id, p) })
	s.paused[id] = p
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) autoResume(id string, p *pause) {
	s.mu.Lock()
	if s.paused[id] == p {
		delete(s.paused, id)
	}
	s.mu.Unlock()
	s.log.Warn("quiesce timed out; I/O resumed", "volume_id", id)
	p.end()
}

// resume ends a quiesce; a volume not paused is not an error.
func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	s.endPause(r.PathValue("volume_id"))
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) endPause(id string) {
	s.mu.Lock()
	p := s.paused[id]
	delete(s.paused, id)
	s.mu.Unlock()
	if p != nil {
		p.end()
	}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, op, volumeID string, err error) {
	status, temp := http.StatusInternalServerError, false
	switch {
	case errors.Is(err, ErrUnknownVolume):
		status = http.StatusNotFound
	case errors.Is(err, ErrTemporary), errors.Is(err, context.DeadlineExceeded):
		status, temp = http.StatusServiceUnavailable, true
	}
	s.log.Error("connector "+op+" failed", "volume_id", volumeID, "err", err)
	writeError(w, status, fmt.Sprintf("%s of volume %s failed: %v", op, volumeID, err), temp)
}

// errorBody is the JSON of every error answer.
type errorBody struct {
	Error struct {
		Message   string `json:"message"`
		Temporary bool   `json:"temporary"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, msg string, temporary bool) {
	var b errorBody
	b.Error.Message, b.Error.Temporary = msg, temporary
	writeJSON(w, status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "bad JSON body: "+err.Error(), false)
		return false
	}
	return true
}

func validID(w http.ResponseWriter, id string) bool {
	if id == "" || strings.ContainsAny(id, "/\\") {
		writeError(w, http.StatusBadRequest, "a volume_id is required", false)
		return false
	}
	return true
}

func validPlan(w http.ResponseWriter, p connector.Plan) bool {
	if !validID(w, p.VolumeID) {
		return false
	}
	if p.Mirrors < 1 || p.Stripes < 1 || len(p.Legs) != p.Mirrors*p.Stripes || p.SizeBytes <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("plan of volume %s is inconsistent: %d legs for %d mirrors x %d stripes, size %d",
			p.VolumeID, len(p.Legs), p.Mirrors, p.Stripes, p.SizeBytes), false)
		return false
	}
	return true
}
