package agentauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
//
// Persisted, it is a JSON snapshot (path: {"volume": epoch, ...}) plus an append-only log next
// to it (path + ".log": one "volume epoch" line per raised epoch). Admit appends one line and
// syncs it before it answers, so recording an epoch costs the same with ten volumes as with ten
// thousand; once the log holds more lines than compactAfter (and than the volumes it covers) the
// snapshot is rewritten (temporary file, sync, rename, directory sync) and the log emptied. A
// crash at any point loses no admitted epoch: the log is replayed over the snapshot, keeping the
// highest value of each volume.
type Fence struct {
	path string // "" keeps it in memory

	mu      sync.Mutex
	highest map[string]int64
	log     *os.File // the append log, opened on the first write
	logged  int      // lines in the log
}

// compactAfter is the log length (lines) past which the snapshot is rewritten.
const compactAfter = 4096

// OpenFence returns a fence persisted at path (see Fence; created on the first write, so a
// restarted agent still refuses what it refused before); path "" keeps it in memory.
func OpenFence(path string) (*Fence, error) {
	f := &Fence{path: path, highest: map[string]int64{}}
	if path == "" {
		return f, nil
	}
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("agentauth: read fence: %w", err)
	default:
		if err := json.Unmarshal(data, &f.highest); err != nil {
			return nil, fmt.Errorf("agentauth: fence file %s: %w", path, err)
		}
	}
	if err := f.replay(); err != nil {
		return nil, err
	}
	return f, nil
}

// replay applies the log's lines to highest. A last line without its newline is a write cut by
// a crash, never acknowledged: it is dropped (and cut from the file on the next write).
func (f *Fence) replay() error {
	data, err := os.ReadFile(f.logPath())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("agentauth: read fence log: %w", err)
	}
	if i := bytes.LastIndexByte(data, '\n'); i < len(data)-1 {
		data = data[:i+1]
	}
	for n, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		vol, ep, ok := strings.Cut(line, " ")
		e, err := strconv.ParseInt(ep, 10, 64)
		if !ok || vol == "" || err != nil {
			return fmt.Errorf("agentauth: fence log %s: line %d malformed", f.logPath(), n+1)
		}
		if e >= f.highest[vol] {
			f.highest[vol] = e
		}
		f.logged++
	}
	return nil
}

func (f *Fence) logPath() string { return f.path + ".log" }

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
	if err := f.record(volumeID, epoch); err != nil {
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

// record makes epoch of volumeID durable: one synced line in the log, then a compaction when the
// log has grown long. Called with mu held, highest already holding the new epoch.
func (f *Fence) record(volumeID string, epoch int64) error {
	if f.path == "" {
		return nil
	}
	if strings.ContainsAny(volumeID, " \n") {
		return fmt.Errorf("%w: volume id %q", ErrBadEpoch, volumeID)
	}
	if err := f.openLog(); err != nil {
		return err
	}
	line := volumeID + " " + strconv.FormatInt(epoch, 10) + "\n"
	if _, err := f.log.WriteString(line); err != nil {
		f.closeLog() // reopened (and a partial line cut) on the next write
		return fmt.Errorf("agentauth: save fence: %w", err)
	}
	if err := f.log.Sync(); err != nil {
		f.closeLog()
		return fmt.Errorf("agentauth: save fence: %w", err)
	}
	f.logged++
	if f.logged > compactAfter && f.logged > len(f.highest) {
		// The line is durable, so the epoch is admitted whatever happens here: a failed
		// compaction leaves snapshot and log as they were (still complete) and is retried on a
		// later write.
		_ = f.compact()
	}
	return nil
}

// openLog opens the log for appending, cutting a partial last line left by a crash or a failed
// write, and syncs the directory when it creates the file.
func (f *Fence) openLog() error {
	if f.log != nil {
		return nil
	}
	_, statErr := os.Stat(f.logPath())
	lf, err := os.OpenFile(f.logPath(), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("agentauth: open fence log: %w", err)
	}
	data, err := io.ReadAll(lf)
	if err == nil {
		keep := int64(bytes.LastIndexByte(data, '\n') + 1)
		if keep < int64(len(data)) {
			err = lf.Truncate(keep)
		}
		if err == nil {
			_, err = lf.Seek(keep, io.SeekStart)
		}
	}
	if err == nil && errors.Is(statErr, os.ErrNotExist) {
		err = syncDir(filepath.Dir(f.logPath()))
	}
	if err != nil {
		lf.Close()
		return fmt.Errorf("agentauth: open fence log: %w", err)
	}
	f.log = lf
	return nil
}

func (f *Fence) closeLog() {
	if f.log != nil {
		_ = f.log.Close()
		f.log = nil
	}
}

// compact writes the snapshot of highest and empties the log.
func (f *Fence) compact() error {
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
	if err := os.Rename(tmp.Name(), f.path); err != nil {
		return fmt.Errorf("agentauth: save fence: %w", err)
	}
	if err := syncDir(filepath.Dir(f.path)); err != nil {
		return err
	}
	// the snapshot holds every line of the log now
	if err := f.log.Truncate(0); err != nil {
		f.closeLog()
		return fmt.Errorf("agentauth: empty fence log: %w", err)
	}
	if _, err := f.log.Seek(0, io.SeekStart); err != nil {
		f.closeLog()
		return fmt.Errorf("agentauth: empty fence log: %w", err)
	}
	f.logged = 0
	return f.log.Sync()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("agentauth: sync dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("agentauth: sync dir: %w", err)
	}
	return nil
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
