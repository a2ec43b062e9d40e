// Package agent is the dpv agent: an HTTP/JSON API over a storage server's pool (leg create,
// clone, snapshot, extend, delete, raw data access) with the Go client the volume manager uses,
// and the heartbeat that reports the dpv to the volume managers over the bus.
//
// Every leg operation is idempotent by leg id, so a manager may retry any call after a timeout.
package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/internal/agentauth"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/pool"
	"github.com/dlvm-project/dlvm/volume/target"
)

// DefaultMaxDataBytes bounds one data read or write.
const DefaultMaxDataBytes = 64 << 20

// ServerOptions describe the dpv and tune the server.
type ServerOptions struct {
	Name     string // dpv name
	DVG      string // dvg the dpv belongs to
	Location string // failure domain, "" if unknown
	// Token, when set, is the shared secret every request must be signed with
	// (agentauth.Sign; else 401 and nothing done).
	Token string
	// Fence remembers the highest epoch per volume and refuses mutating calls of a lower one
	// (409); nil: an in-memory fence.
	Fence *agentauth.Fence
	// ReplayWindow bounds signed requests' clock difference; 0: agentauth.DefaultWindow.
	ReplayWindow time.Duration
	// MaxDataBytes bounds one data transfer; default DefaultMaxDataBytes.
	MaxDataBytes int64
	// Target exports legs over iSCSI (export.go); nil: the export routes answer 501.
	Target target.Target
	// Exports persists what is exported (target.OpenState("<pool dir>/exports.json")); nil
	// with a Target keeps it in memory only.
	Exports *target.State
}

// Server serves the agent API over one pool.
type Server struct {
	pool pool.Pool
	opts ServerOptions
	log  *slog.Logger
	exp  *exporter // nil without a Target
	auth *agentauth.Verifier
}

// NewServer returns the agent over p. log may be nil.
func NewServer(p pool.Pool, opts ServerOptions, log *slog.Logger) *Server {
	if opts.MaxDataBytes <= 0 {
		opts.MaxDataBytes = DefaultMaxDataBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Fence == nil {
		opts.Fence, _ = agentauth.OpenFence("") // in memory: cannot fail
	}
	auth := agentauth.NewVerifier([]byte(opts.Token), agentauth.VerifierOptions{Window: opts.ReplayWindow, MaxBody: opts.MaxDataBytes + 1<<20})
	return &Server{pool: p, opts: opts, log: log, exp: newExporter(opts), auth: auth}
}

// Info is the answer of GET /v1/info.
type Info struct {
	Name     string `json:"name"`
	DVG      string `json:"dvg"`
	Location string `json:"location"`
	PoolType string `json:"pool_type"`
	pool.Stats
	Legs int `json:"legs"` // number of legs and snapshots
}

// LegRequest is the body of PUT /v1/legs/{id}: a create, or a clone when SourceID is set, or a
// snapshot of SourceID when Snapshot is true.
type LegRequest struct {
	SizeBytes int64  `json:"size_bytes"`
	SourceID  string `json:"source_id,omitempty"`
	Snapshot  bool   `json:"snapshot,omitempty"`
}

// ExtendRequest is the body of POST /v1/legs/{id}/extend.
type ExtendRequest struct {
	SizeBytes int64 `json:"size_bytes"`
}

// Handler returns the HTTP handler of the API.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/v1/info", s.info).Methods(http.MethodGet)
	r.HandleFunc("/v1/legs", s.listLegs).Methods(http.MethodGet)
	r.HandleFunc("/v1/legs/{id}", s.getLeg).Methods(http.MethodGet)
	r.HandleFunc("/v1/legs/{id}", s.putLeg).Methods(http.MethodPut)
	r.HandleFunc("/v1/legs/{id}", s.deleteLeg).Methods(http.MethodDelete)
	r.HandleFunc("/v1/legs/{id}/extend", s.extendLeg).Methods(http.MethodPost)
	r.HandleFunc("/v1/legs/{id}/data", s.readData).Methods(http.MethodGet)
	r.HandleFunc("/v1/legs/{id}/data", s.writeData).Methods(http.MethodPut)
	s.exportRoutes(r)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fail(w, nil, model.Errorf(model.ErrNotFound, "no such route"))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fail(w, nil, model.Errorf(model.ErrInvalid, "method not allowed"))
	})
	fenced := s.opts.Fence.Middleware(r, func(w http.ResponseWriter, req *http.Request, err error) {
		if errors.Is(err, agentauth.ErrBadEpoch) {
			err = model.Wrap(model.ErrInvalid, err, "malformed epoch header")
		}
		s.log.Warn("fenced call refused", "method", req.Method, "path", req.URL.Path, "err", err)
		s.fail(w, req, err)
	})
	return s.auth.Middleware(fenced, func(w http.ResponseWriter, req *http.Request, err error) {
		s.log.Warn("unauthenticated call refused", "method", req.Method, "path", req.URL.Path, "remote", req.RemoteAddr, "err", err)
		s.fail(w, req, model.Wrap(model.ErrForbidden, err, "agent call not authenticated"))
	})
}

func (s *Server) reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		s.log.Debug("write reply", "err", err)
	}
}

func (s *Server) fail(w http.ResponseWriter, req *http.Request, err error) {
	status, body := toWire(err)
	if status >= 500 {
		attrs := []any{"err", err}
		if req != nil {
			attrs = append(attrs, "method", req.Method, "path", req.URL.Path)
		}
		s.log.Error("agent request failed", attrs...)
	}
	s.reply(w, status, body)
}

func decode(req *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(req.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return model.Wrap(model.ErrInvalid, err, "invalid request body")
	}
	return nil
}

func (s *Server) info(w http.ResponseWriter, req *http.Request) {
	st, err := s.pool.Stats(req.Context())
	if err != nil {
		s.fail(w, req, err)
		return
	}
	legs, err := s.pool.ListLegs(req.Context())
	if err != nil {
		s.fail(w, req, err)
		return
	}
	s.reply(w, http.StatusOK, Info{Name: s.opts.Name, DVG: s.opts.DVG, Location: s.opts.Location,
		PoolType: s.pool.Type(), Stats: st, Legs: len(legs)})
}

func (s *Server) listLegs(w http.ResponseWriter, req *http.Request) {
	legs, err := s.pool.ListLegs(req.Context())
	if err != nil {
		s.fail(w, req, err)
		return
	}
	if legs == nil {
		legs = []pool.LegInfo{}
	}
	s.reply(w, http.StatusOK, map[string]any{"legs": legs})
}

func (s *Server) getLeg(w http.ResponseWriter, req *http.Request) {
	info, err := s.pool.Stat(req.Context(), mux.Vars(req)["id"])
	if err != nil {
		s.fail(w, req, err)
		return
	}
	s.reply(w, http.StatusOK, info)
}

func (s *Server) putLeg(w http.ResponseWriter, req *http.Request) {
	id := mux.Vars(req)["id"]
	var body LegRequest
	if err := decode(req, &body); err != nil {
		s.fail(w, req, err)
		return
	}
	ctx := req.Context()
	var err error
	switch {
	case body.Snapshot && body.SourceID == "":
		err = model.Errorf(model.ErrInvalid, "a snapshot needs source_id")
	case body.Snapshot:
		err = s.pool.SnapshotLeg(ctx, id, body.SourceID)
	case body.SourceID != "":
		err = s.pool.CloneLeg(ctx, id, body.SourceID, body.SizeBytes)
	default:
		err = s.pool.CreateLeg(ctx, id, body.SizeBytes)
	}
	if err != nil {
		s.fail(w, req, err)
		return
	}
	s.log.Info("leg ready", "leg_id", id, "source_id", body.SourceID, "snapshot", body.Snapshot, "size_bytes", body.SizeBytes)
	s.getLeg(w, req)
}

func (s *Server) extendLeg(w http.ResponseWriter, req *http.Request) {
	var body ExtendRequest
	if err := decode(req, &body); err != nil {
		s.fail(w, req, err)
		return
	}
	id := mux.Vars(req)["id"]
	if err := s.pool.ExtendLeg(req.Context(), id, body.SizeBytes); err != nil {
		s.fail(w, req, err)
		return
	}
	if err := s.resizeExport(req.Context(), id); err != nil { // export.go; no-op without a Target
		s.fail(w, req, err)
		return
	}
	s.getLeg(w, req)
}

func (s *Server) deleteLeg(w http.ResponseWriter, req *http.Request) {
	id := mux.Vars(req)["id"]
	if err := s.unexportLeg(req.Context(), id); err != nil { // export.go; no-op without a Target
		s.fail(w, req, err)
		return
	}
	if err := s.pool.DeleteLeg(req.Context(), id); err != nil {
		s.fail(w, req, err)
		return
	}
	s.log.Info("leg deleted", "leg_id", id)
	w.WriteHeader(http.StatusNoContent)
}

func queryInt(req *http.Request, name string, def int64) (int64, error) {
	v := req.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, model.Errorf(model.ErrInvalid, "invalid %s %q", name, v)
	}
	return n, nil
}

func (s *Server) readData(w http.ResponseWriter, req *http.Request) {
	id := mux.Vars(req)["id"]
	info, err := s.pool.Stat(req.Context(), id)
	if err != nil {
		s.fail(w, req, err)
		return
	}
	off, err := queryInt(req, "offset", 0)
	if err == nil && off > info.SizeBytes {
		err = model.Errorf(model.ErrInvalid, "offset %d beyond leg size %d", off, info.SizeBytes)
	}
	var length int64
	if err == nil {
		length, err = queryInt(req, "length", min(s.opts.MaxDataBytes, info.SizeBytes-off))
	}
	if err == nil && length > s.opts.MaxDataBytes {
		err = model.Errorf(model.ErrInvalid, "length %d above the limit %d", length, s.opts.MaxDataBytes)
	}
	if err != nil {
		s.fail(w, req, err)
		return
	}
	length = min(length, info.SizeBytes-off) // a read past the end is short
	f, err := os.Open(s.pool.DevicePath(id))
	if err != nil {
		s.fail(w, req, fmt.Errorf("open leg %s: %w", id, err))
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.FormatInt(length, 10))
	if _, err := io.Copy(w, io.NewSectionReader(f, off, length)); err != nil {
		s.log.Warn("leg read interrupted", "leg_id", id, "err", err)
	}
}

func (s *Server) writeData(w http.ResponseWriter, req *http.Request) {
	id := mux.Vars(req)["id"]
	info, err := s.pool.Stat(req.Context(), id)
	if err != nil {
		s.fail(w, req, err)
		return
	}
	off, err := queryInt(req, "offset", 0)
	if err == nil && info.Snapshot {
		err = model.Errorf(model.ErrConflict, "%s is a read-only snapshot", id)
	}
	if err != nil {
		s.fail(w, req, err)
		return
	}
	data, err := io.ReadAll(io.LimitReader(req.Body, s.opts.MaxDataBytes+1))
	if err != nil {
		s.fail(w, req, model.Wrap(model.ErrInvalid, err, "cannot read request body"))
		return
	}
	if int64(len(data)) > s.opts.MaxDataBytes || off+int64(len(data)) > info.SizeBytes {
		s.fail(w, req, model.Errorf(model.ErrInvalid, "write of %d bytes at %d exceeds the leg (%d bytes) or the limit (%d)",
			len(data), off, info.SizeBytes, s.opts.MaxDataBytes))
		return
	}
	if err := writeAt(s.pool.DevicePath(id), data, off); err != nil {
		s.fail(w, req, fmt.Errorf("write leg %s: %w", id, err))
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeAt writes data at off of the file or device at path and syncs it.
func writeAt(path string, data []byte, off int64) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	if _, err := f.WriteAt(data, off); err != nil {
		return err
	}
	return f.Sync()
}
