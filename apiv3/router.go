// Package apiv3 serves the Cinder Block Storage API v3 over HTTP: routing (gorilla/mux),
// microversions, the version documents, strict request decoding and validation, policy checks,
// the response views of Cinder 21 (Zed) at each microversion, and the single table that turns
// model error kinds into Cinder faults. It calls the service layer (volume/api) and knows
// nothing of the database or of how callers are authenticated: Options.Identity says who calls.
package apiv3

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
	"github.com/dlvm-project/dlvm/volume/api"
)

// Service is the part of the service layer (*api.API) the routes call.
type Service interface {
	AttachService
	AdminService
	GroupTypeService
	GroupService
	TransferService
	MessageService
	RetypeService
	BackupService
	ManageService
	OnlineService
	CreateVolumeShown(ctx context.Context, c api.Caller, req api.CreateVolumeRequest) (*model.Volume, *model.VolumeType, error)
	GetVolume(ctx context.Context, c api.Caller, id string) (*model.Volume, error)
	GetVolumeShown(ctx context.Context, c api.Caller, id string) (*model.Volume, *model.VolumeType, error)
	ListVolumes(ctx context.Context, c api.Caller, q db.VolumeQuery, allTenants bool) ([]*model.Volume, error)
	ListVolumeRevs(ctx context.Context, c api.Caller, q db.VolumeQuery, allTenants bool) ([]db.VolumeRev, error)
	GetVolumeRev(ctx context.Context, c api.Caller, id string) (int64, error)
	AttachmentsOf(ctx context.Context, volumeIDs []string) (map[string][]*model.Attachment, error)
	CountVolumes(ctx context.Context, c api.Caller, q db.VolumeQuery, allTenants bool) (int, error)
	UpdateVolume(ctx context.Context, c api.Caller, id string, u api.VolumeUpdate) (*model.Volume, error)
	DeleteVolume(ctx context.Context, c api.Caller, id string, cascade, force bool) error
	ExtendVolume(ctx context.Context, c api.Caller, id string, newSize int) error
	ResetVolumeStatus(ctx context.Context, c api.Caller, id, status, attachStatus, migrationStatus string) error
	SetBootable(ctx context.Context, c api.Caller, id string, bootable bool) error
	SetReadOnly(ctx context.Context, c api.Caller, id string, readOnly bool) error
	SetVolumeMetadata(ctx context.Context, c api.Caller, id string, md map[string]string, replace bool) (map[string]string, error)
	DeleteVolumeMetadata(ctx context.Context, c api.Caller, id, key string) error

	CreateSnapshot(ctx context.Context, c api.Caller, volumeID, name, description string, force bool, md map[string]string) (*model.Snapshot, error)
	GetSnapshot(ctx context.Context, c api.Caller, id string) (*model.Snapshot, error)
	ListSnapshots(ctx context.Context, c api.Caller, q db.SnapshotQuery, allTenants bool) ([]*model.Snapshot, error)
	CountSnapshots(ctx context.Context, c api.Caller, q db.SnapshotQuery, allTenants bool) (int, error)
	UpdateSnapshot(ctx context.Context, c api.Caller, id string, name, description *string) (*model.Snapshot, error)
	DeleteSnapshot(ctx context.Context, c api.Caller, id string, force bool) error
	ResetSnapshotStatus(ctx context.Context, c api.Caller, id, status string) error
	UpdateSnapshotStatus(ctx context.Context, c api.Caller, id, status, progress string) error
	SetSnapshotMetadata(ctx context.Context, c api.Caller, id string, md map[string]string, replace bool) (map[string]string, error)
	DeleteSnapshotMetadata(ctx context.Context, c api.Caller, id, key string) error

	CreateType(ctx context.Context, c api.Caller, name, description string, isPublic bool, specs map[string]string) (*model.VolumeType, error)
	GetType(ctx context.Context, c api.Caller, idOrName string) (*model.VolumeType, error)
	DefaultType(ctx context.Context, c api.Caller) (*model.VolumeType, error)
	ListTypes(ctx context.Context, c api.Caller, isPublic *bool) ([]*model.VolumeType, error)
	UpdateType(ctx context.Context, c api.Caller, id string, name, description *string, isPublic *bool) (*model.VolumeType, error)
	DeleteType(ctx context.Context, c api.Caller, id string) error
	SetExtraSpecs(ctx context.Context, c api.Caller, typeID string, specs map[string]string) (map[string]string, error)
	DeleteExtraSpec(ctx context.Context, c api.Caller, typeID, key string) error

	GetQuotas(ctx context.Context, c api.Caller, projectID string) (*api.QuotaSet, error)
	DefaultQuotas(ctx context.Context) (map[string]int64, error)
	UpdateQuotas(ctx context.Context, c api.Caller, projectID string, limits map[string]int64) (*api.QuotaSet, error)
	DeleteQuotas(ctx context.Context, c api.Caller, projectID string) error

	Pools(ctx context.Context) ([]api.Pool, error)
	AvailabilityZones(ctx context.Context) ([]string, error)
}

var _ Service = (*api.API)(nil)

// Options configures the handler.
type Options struct {
	// Identity returns the authenticated caller of a request (the lead wires keystone's auth
	// context here). ok=false answers 401. Nil refuses every non-public request.
	Identity func(*http.Request) (api.Caller, bool)
	// PublicURL is the service root clients see, e.g. "http://127.0.0.1:8776"; links and version
	// documents use it. Empty: derived from the request's Host (and X-Forwarded-Proto).
	PublicURL string
	// Log receives request failures (with request_id). Nil discards.
	Log *slog.Logger
	// ViewCacheBytes bounds the cache of encoded volume views (viewCache); 0 is 8 MiB, negative
	// turns it off.
	ViewCacheBytes int
}

// Handler serves the Cinder v3 API.
type Handler struct {
	svc    Service
	opts   Options
	log    *slog.Logger
	router *mux.Router
	views  *viewCache
}

// New returns the API handler over svc.
func New(svc Service, opts Options) *Handler {
	h := &Handler{svc: svc, opts: opts, log: opts.Log, views: newViewCache(opts.ViewCacheBytes)}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	h.router = h.routes()
	return h
}

// IsPublic reports whether r needs no authentication: the version documents GET / and GET /v3/.
func IsPublic(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case "", "/", "/v3", "/v3/":
		return true
	}
	return false
}

// topLevel are the first path segments after /v3/ that name a collection (the project-less URL
// form of 3.67); anything else in that place is a project id.
var topLevel = map[string]bool{
	"volumes": true, "snapshots": true, "types": true, "os-quota-sets": true, "limits": true,
	"extensions": true, "os-availability-zone": true, "scheduler-stats": true,
	"os-volume-transfer": true, "volume-transfers": true, "attachments": true, "messages": true,
	"os-services": true, "qos-specs": true, "backups": true, "groups": true, "group_types": true,
	"group_snapshots": true, "os-quota-class-sets": true, "capabilities": true, "manageable_volumes": true,
	"manageable_snapshots": true, "os-hosts": true, "clusters": true, "workers": true,
	"resource_filters": true, "default-types": true, "os-volume-manage": true, "os-snapshot-manage": true,
}

// ServeHTTP stamps the common headers, reads the microversion and the caller, checks the URL's
// project and dispatches.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &reqState{id: "req-" + uuid.NewString(), ver: MinVersion}
	r = r.WithContext(withState(r.Context(), st))
	hdr := w.Header()
	hdr.Set("x-openstack-request-id", st.id)
	hdr.Set("x-compute-request-id", st.id)
	hdr.Set("Vary", hdrAPIVersion)
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			writeFault(w, r, h.log, fmt.Errorf("panic: %v", p))
		}
	}()
	ver, verr := RequestVersion(r.Header)
	if verr == nil {
		st.ver = ver
	}
	hdr.Set(hdrAPIVersion, volumeService+" "+st.ver.String())
	if verr != nil {
		writeFault(w, r, h.log, verr)
		return
	}
	st.base = h.publicURL(r)

	path := r.URL.Path
	switch path {
	case "", "/":
		h.versions(w, r, http.StatusMultipleChoices)
		return
	case "/v3", "/v3/":
		h.versions(w, r, http.StatusOK)
		return
	}
	rest, ok := strings.CutPrefix(path, "/v3/")
	if !ok {
		writeFault(w, r, h.log, notFound("The resource could not be found."))
		return
	}
	c, ok := h.identity(r)
	if !ok {
		writeFault(w, r, h.log, &fault{http.StatusUnauthorized, "The request you have made requires authentication."})
		return
	}
	st.caller = c
	first, _, _ := strings.Cut(rest, "/")
	if topLevel[first] {
		if !st.ver.AtLeast(mvProjectIDOptional) {
			writeFault(w, r, h.log, notFound("The resource could not be found."))
			return
		}
		st.prefix = st.base + "/v3"
		rest = "/" + rest
	} else {
		if first != c.ProjectID {
			writeFault(w, r, h.log, badRequest("Malformed request url"))
			return
		}
		st.projectID = first
		st.prefix = st.base + "/v3/" + first
		rest = strings.TrimPrefix(rest, first)
	}
	if rest == "" {
		rest = "/"
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = rest
	r2.URL.RawPath = ""
	h.router.ServeHTTP(w, r2)
}

func (h *Handler) identity(r *http.Request) (api.Caller, bool) {
	if h.opts.Identity == nil {
		return api.Caller{}, false
	}
	return h.opts.Identity(r)
}

func (h *Handler) publicURL(r *http.Request) string {
	if h.opts.PublicURL != "" {
		return h.opts.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if host == "" {
		host = "localhost:8776"
	}
	return scheme + "://" + host
}

// handlerFunc is a route body: it writes a success response or returns an error for the fault
// table.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// route adapts a handlerFunc, answering 404 below min (a method absent at that version).
func (h *Handler) route(min Version, f handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !state(r.Context()).ver.AtLeast(min) {
			writeFault(w, r, h.log, notFound("The resource could not be found."))
			return
		}
		if err := f(w, r); err != nil {
			writeFault(w, r, h.log, err)
		}
	})
}

func (h *Handler) routes() *mux.Router {
	m := mux.NewRouter()
	m.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeFault(w, r, h.log, notFound("The resource could not be found."))
	})
	m.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeFault(w, r, h.log, &fault{http.StatusMethodNotAllowed, "The method specified is not allowed for this resource."})
	})
	add := func(method, path string, min Version, f handlerFunc) {
		m.Handle(path, h.route(min, f)).Methods(method)
	}
	v30 := MinVersion
	h.volumeRoutes(add, v30)
	h.snapshotRoutes(add, v30)
	h.typeRoutes(add, v30)
	h.quotaRoutes(add, v30)
	h.miscRoutes(add, v30)
	h.attachmentRoutes(add)
	h.adminRoutes(add, v30)
	h.groupRoutes(add, v30)
	h.messageRoutes(add, v30)
	h.backupRoutes(add, v30)
	h.manageRoutes(add, v30)
	h.onlineRoutes(add, v30)
	return m
}

type addFunc func(method, path string, min Version, f handlerFunc)
