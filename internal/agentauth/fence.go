package agentauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
)

// Fencing headers: the volume a call acts for and the epoch its manager holds.
const (
	HeaderVolume = "X-Dlvm-Volume"
	HeaderEpoch  = "X-Dlvm-Epoch"
)

// ErrStaleEpoch is a call made with a lower epoch than the agent has already seen for the volume
// (409 on the wire): the manager making it lost its claim on the volume.
var ErrStaleEpoch = errors.New("stale volume epoch")

type epochKey struct{}

// Epoch is the fencing token of the work a manager does on a volume.
type Epoch struct {
	VolumeID string
	Epoch    int64
}

// WithEpoch returns ctx carrying the volume's epoch; agent calls made with it are fenced.
func WithEpoch(ctx context.Context, volumeID string, epoch int64) context.Context {
	return context.WithValue(ctx, epochKey{}, Epoch{VolumeID: volumeID, Epoch: epoch})
}

// WithoutEpoch returns ctx with no epoch: calls made with it are not fenced.
func WithoutEpoch(ctx context.Context) context.Context {
	return context.WithValue(ctx, epochKey{}, Epoch{})
}

// EpochFrom returns the epoch ctx carries.
func EpochFrom(ctx context.Context) (Epoch, bool) {
	e, ok := ctx.Value(epochKey{}).(Epoch)
	return e, ok && e.VolumeID != ""
}

// SetEpoch copies the epoch of req's context (if any) into its headers.
func SetEpoch(req *http.Request) {
	if e, ok := EpochFrom(req.Context()); ok {
		req.Header.Set(HeaderVolume, e.VolumeID)
		req.Header.Set(HeaderEpoch, strconv.FormatInt(e.Epoch, 10))
	}
}

// Fence remembers the highest epoch seen per volume. Safe for concurrent use.
type Fence struct {
	path string // "" keeps it in memory

	mu      sync.Mutex
	highest map[string]int64
}

// OpenFence returns a fence persisted in the JSON file at path (created on the first write, so
// a restarted agent still refuses what it refused before); path "" keeps it in memory.
func OpenFence(path string) (*Fence, error) {
	f := &Fence{path: path, highest: map[string]int64{}}
	if path == "" {
		return f, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("agentauth: read fence: %w", err)
	}
	if err := json.Unmarshal(data, &f.highest); err != nil {
		return nil, fmt.Errorf("agentauth: fence file %s: %w", path, err)
	}
	return f, nil
}

// Admit accepts epoch for volumeID if no higher one was seen, and records it when it is the
// highest. A lower epoch is ErrStaleEpoch.
func (f *Fence) Admit(volumeID string, epoch int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	cur, ok := f.highest[volumeID]
	if ok && epoch < cur {
		return fmt.Errorf("%w: volume %s is at epoch %d, the call carries %d", ErrStaleEpoch, volumeID, cur, epoch)
	}
	if ok && epoch == cur {
		return nil
	}
	f.highest[volumeID] = epoch
	if err := f.save(); err != nil {
		if ok {
			f.highest[volumeID] = cur
		} else {
			delete(f.highest, volumeID)
		}
		return err
	}
	return nil
}

// Highest returns the highest epoch seen for volumeID (0 if none).
func (f *Fence) Highest(volumeID string) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.highest[volumeID]
}

func (f *Fence) save() error {
	if f.path == "" {
		return nil
	}
	data, err := json.Marshal(f.highest)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), ".fence-*")
	if err != nil {
		return fmt.Errorf("agentauth: save fence: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("agentauth: save fence: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("agentauth: save fence: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("agentauth: save fence: %w", err)
	}
	return os.Rename(tmp.Name(), f.path)
}

// Middleware returns next behind the fence: a mutating request (not GET or HEAD) that carries
// fencing headers is admitted or refused by deny (409 for ErrStaleEpoch, 400 for a malformed
// epoch). Requests without the headers pass: reads, and calls made outside a claimed workflow.
func (f *Fence) Middleware(next http.Handler, deny func(w http.ResponseWriter, r *http.Request, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		vol, ep := r.Header.Get(HeaderVolume), r.Header.Get(HeaderEpoch)
		if r.Method == http.MethodGet || r.Method == http.MethodHead || vol == "" {
			next.ServeHTTP(w, r)
			return
		}
		n, err := strconv.ParseInt(ep, 10, 64)
		if err != nil || n < 0 {
			deny(w, r, fmt.Errorf("%w: malformed %s %q", ErrBadEpoch, HeaderEpoch, ep))
			return
		}
		if err := f.Admit(vol, n); err != nil {
			deny(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ErrBadEpoch is a malformed epoch header (400 on the wire).
var ErrBadEpoch = errors.New("malformed epoch")
