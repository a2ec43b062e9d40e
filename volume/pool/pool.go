// Package pool owns a dpv's local storage pool: the legs (and leg snapshots) carved from it.
// Two implementations share the Pool contract: File (sparse files in a directory; reflink
// clones where the filesystem has them, a sparse-aware copy elsewhere) which runs anywhere, and
// LVM (thin LVs in one thin pool, driven through the runner) for production storage servers.
//
// Legs and snapshots share one id namespace per pool. Ids are validated by ValidID before any
// path or command line is built from them.
package pool

import (
	"context"
	"regexp"
	"sync"

	"github.com/dlvm-project/dlvm/model"
)

// Pool is a dpv's storage pool. Every method is idempotent by id, safe for concurrent use, and
// returns errors wrapping a model kind: ErrInvalid (bad id or size), ErrNotFound, ErrConflict
// (the id exists with other properties), anything else is internal.
type Pool interface {
	// CreateLeg creates a zero-filled leg of size bytes (a positive multiple of 512).
	// Idempotent: an existing leg of the same size is success; of another size, or an existing
	// snapshot with this id, is ErrConflict. A failed create leaves nothing behind.
	CreateLeg(ctx context.Context, id string, size int64) error
	// CloneLeg makes id a writable copy of srcID (a leg or a snapshot) grown to size, which
	// must be >= the source's size (else ErrInvalid). A missing source is ErrNotFound.
	// Idempotent: an existing leg id of that size is success (the source is not compared).
	CloneLeg(ctx context.Context, id, srcID string, size int64) error
	// SnapshotLeg makes id a read-only point-in-time copy of srcID (a leg or a snapshot). A
	// missing source is ErrNotFound. Idempotent: an existing snapshot id is success; an
	// existing leg id is ErrConflict.
	SnapshotLeg(ctx context.Context, id, srcID string) error
	// ExtendLeg grows leg id to size bytes, keeping its data; the new space reads as zeros.
	// A no-op when the leg is already >= size. Missing leg: ErrNotFound; a snapshot:
	// ErrConflict.
	ExtendLeg(ctx context.Context, id string, size int64) error
	// DeleteLeg removes leg or snapshot id. A missing id is not an error. Clones and
	// snapshots made from it are independent and stay.
	DeleteLeg(ctx context.Context, id string) error
	// Stat describes leg or snapshot id; ErrNotFound when missing.
	Stat(ctx context.Context, id string) (LegInfo, error)
	// ListLegs lists all legs and snapshots of the pool, sorted by id.
	ListLegs(ctx context.Context) ([]LegInfo, error)
	// Stats reports the pool's capacity.
	Stats(ctx context.Context) (Stats, error)
	// Capacity is Stats without ProvisionedBytes (left 0), for the dpv's heartbeat: it reads
	// every leg only where Free depends on them.
	Capacity(ctx context.Context) (Stats, error)
	// DevicePath is the file or block device holding id's bytes (for the iSCSI target and the
	// agent's data endpoint). It does no I/O: the path may not exist.
	DevicePath(id string) string
	// Type is the pool type as dpvs report it: "file" or "lvm".
	Type() string
}

// LegInfo describes one leg or snapshot.
type LegInfo struct {
	ID             string `json:"id"`
	SizeBytes      int64  `json:"size_bytes"`
	AllocatedBytes int64  `json:"allocated_bytes"` // space actually used (thin/sparse)
	Snapshot       bool   `json:"snapshot"`        // read-only point-in-time copy
}

// Stats is a pool's capacity. Provisioned is the sum of the sizes of all legs and snapshots,
// which may exceed Total on thin pools.
type Stats struct {
	TotalBytes       int64 `json:"total_bytes"`
	FreeBytes        int64 `json:"free_bytes"`
	ProvisionedBytes int64 `json:"provisioned_bytes"`
}

// provisioned is the sum of the legs' sizes (Stats.ProvisionedBytes).
func provisioned(legs []LegInfo) int64 {
	var n int64
	for _, l := range legs {
		n += l.SizeBytes
	}
	return n
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9-]{0,63}$`)

// ValidID reports whether id may name a leg: 1 to 64 characters of ASCII letters, digits and
// '-', not starting with '-' (a UUID fits). Nothing else, so ids are safe in paths, LV names
// and command lines.
func ValidID(id string) error {
	if !idRE.MatchString(id) {
		return model.Errorf(model.ErrInvalid, "invalid leg id %q", id)
	}
	return nil
}

func validSize(size int64) error {
	if size <= 0 || size%512 != 0 {
		return model.Errorf(model.ErrInvalid, "invalid leg size %d: must be a positive multiple of 512", size)
	}
	return nil
}

// keyLock serializes operations per id.
type keyLock struct {
	mu sync.Mutex
	m  map[string]*keyEntry
}

type keyEntry struct {
	mu   sync.Mutex
	refs int
}

// lock locks every id given (sorted order avoids deadlocks) and returns the unlock function.
func (k *keyLock) lock(ids ...string) func() {
	if len(ids) == 2 && ids[0] > ids[1] {
		ids[0], ids[1] = ids[1], ids[0]
	}
	if len(ids) == 2 && ids[0] == ids[1] {
		ids = ids[:1]
	}
	var held []*keyEntry
	for _, id := range ids {
		k.mu.Lock()
		if k.m == nil {
			k.m = map[string]*keyEntry{}
		}
		e := k.m[id]
		if e == nil {
			e = &keyEntry{}
			k.m[id] = e
		}
		e.refs++
		k.mu.Unlock()
		e.mu.Lock()
		held = append(held, e)
	}
	return func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].mu.Unlock()
			k.mu.Lock()
			held[i].refs--
			if held[i].refs == 0 {
				delete(k.m, ids[i])
			}
			k.mu.Unlock()
		}
	}
}
