package apiv3

import (
	"bytes"
	"context"
	"strconv"
	"sync"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// viewCache keeps the encoded detailed views of volumes (volumeDetail with the show/detail
// extensions, as JSON) by volume id and request variant, each labelled with the volume revision
// it was rendered from. The database moves a volume's revision in the same transaction as every
// write that changes its views (db.bumpVolumeRev), so GET /volumes/{id} and volumes/detail ask
// the database only for revisions and re-render just the volumes that changed. Nothing is ever
// served by age: an entry is used only while its revision is the one the database holds, which
// holds across API processes too.
type viewCache struct {
	mu    sync.RWMutex
	m     map[viewKey]viewEntry
	size  int // bytes of views held
	limit int // size at which entries are dropped
}

type viewKey struct{ id, variant string }

type viewEntry struct {
	rev     int64
	settled bool // rendered from a volume in a status no workflow is moving (settledStatus)
	b       []byte
}

// settledStatus says whether a volume in status is at rest: not one a running operation moves
// on by itself (creating, attaching, deleting, extending, ...). A view of a volume that is not
// at rest is likely stale at the next GET, so that GET reads the volume at once rather than its
// revision first (one query instead of two when it did move, as it mostly has).
func settledStatus(status string) bool {
	switch status {
	case model.StatusCreating, model.StatusAttaching, model.StatusDetaching, model.StatusDeleting,
		model.StatusExtending, model.StatusRetyping, model.StatusBackingUp, model.StatusRestoring:
		return false
	}
	return true
}

// defaultViewCacheBytes bounds the cache: about 6,000 volume views.
const defaultViewCacheBytes = 8 << 20

func newViewCache(limit int) *viewCache {
	if limit == 0 {
		limit = defaultViewCacheBytes
	}
	return &viewCache{m: map[viewKey]viewEntry{}, limit: limit}
}

// get returns the view of volume id at revision rev for variant, or nil.
func (c *viewCache) get(id, variant string, rev int64) []byte {
	if c.limit < 0 {
		return nil
	}
	c.mu.RLock()
	e, ok := c.m[viewKey{id, variant}]
	c.mu.RUnlock()
	if !ok || e.rev != rev {
		return nil
	}
	return e.b
}

// hasSettled says whether a view of volume id for variant is kept, at any revision, rendered
// from a volume at rest (put's settled).
func (c *viewCache) hasSettled(id, variant string) bool {
	if c.limit < 0 {
		return false
	}
	c.mu.RLock()
	e, ok := c.m[viewKey{id, variant}]
	c.mu.RUnlock()
	return ok && e.settled
}

// put records the view b of volume id rendered at revision rev; settled: the volume was at rest
// (settledStatus of its status). Over the limit, arbitrary other entries go until a quarter of
// the room is free again.
//
// It keeps a copy of b cut to its length (an encoder's buffer has up to twice the capacity it
// uses, which the bound would not see), and counts the key's strings and the entry's own
// overhead with the bytes.
func (c *viewCache) put(id, variant string, rev int64, settled bool, b []byte) {
	if c.limit < 0 || len(b) > c.limit/4 {
		return
	}
	k := viewKey{id, variant}
	e := viewEntry{rev: rev, settled: settled, b: bytes.Clone(b)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[k]; ok {
		c.size -= entrySize(k, old)
	}
	c.m[k] = e
	c.size += entrySize(k, e)
	if c.size <= c.limit {
		return
	}
	for ok, oe := range c.m {
		if ok == k {
			continue // not the view just kept
		}
		delete(c.m, ok)
		c.size -= entrySize(ok, oe)
		if c.size <= c.limit*3/4 {
			break
		}
	}
}

// entryOverhead approximates what an entry costs besides its strings and view: the map slot
// with its key and value headers.
const entryOverhead = 96

func entrySize(k viewKey, e viewEntry) int {
	return len(k.id) + len(k.variant) + len(e.b) + entryOverhead
}

// viewVariant names everything of the request a volume view depends on besides the volume:
// the microversion, the caller's role and project (admin-only fields, private type names) and
// the URLs of its links.
func viewVariant(ctx context.Context) string {
	st := state(ctx)
	return st.ver.String() + "\x00" + strconv.FormatBool(st.caller.IsAdmin) + "\x00" + st.caller.ProjectID +
		"\x00" + st.projectID + "\x00" + st.prefix + "\x00" + st.base
}

// volumeViews returns the encoded detailed views of the volumes revs names, in order: cached
// ones as they are, the others read in one list query (with their attachments in one more),
// rendered and cached. A volume deleted since revs were read is left out.
func (h *Handler) volumeViews(ctx context.Context, revs []db.VolumeRev) ([][]byte, error) {
	variant := viewVariant(ctx)
	out := make([][]byte, len(revs))
	var miss []string
	for i, r := range revs {
		if out[i] = h.views.get(r.ID, variant, r.Rev); out[i] == nil {
			miss = append(miss, r.ID)
		}
	}
	if len(miss) > 0 {
		caller := state(ctx).caller
		vols, err := h.svc.ListVolumes(ctx, caller, db.VolumeQuery{IDs: miss, Limit: len(miss)}, caller.IsAdmin)
		if err != nil {
			return nil, err
		}
		l, err := h.newListLookups(ctx, vols)
		if err != nil {
			return nil, err
		}
		fresh := make(map[string][]byte, len(vols))
		for _, v := range vols {
			b, err := appendJSON(nil, volumeDetail(ctx, v, l, true))
			if err != nil {
				return nil, err
			}
			if !l.failed {
				h.views.put(v.ID, variant, v.Rev, settledStatus(v.Status), b)
			}
			fresh[v.ID] = b
		}
		for i, r := range revs {
			if out[i] == nil {
				out[i] = fresh[r.ID]
			}
		}
	}
	kept := out[:0]
	for _, b := range out {
		if b != nil {
			kept = append(kept, b)
		}
	}
	return kept, nil
}

// volumeView is volumeViews for one volume the caller named: its revision, then the cached view
// or a fresh one. With no view of the volume kept for this variant, or only one of a volume that
// was not at rest (a create being polled: its revision has mostly moved by the next GET), it
// reads the volume at once (one query instead of two: the revision comes with it).
func (h *Handler) volumeView(ctx context.Context, id string) ([]byte, error) {
	caller := state(ctx).caller
	variant := viewVariant(ctx)
	// the revision only when a view of the volume at rest is kept; else it comes with the volume
	if h.views.hasSettled(id, variant) {
		rev, err := h.svc.GetVolumeRev(ctx, caller, id)
		if err != nil {
			return nil, err
		}
		if b := h.views.get(id, variant, rev); b != nil {
			return b, nil
		}
	}
	v, vt, err := h.svc.GetVolumeShown(ctx, caller, id) // with its type: one query
	if err != nil {
		return nil, err
	}
	l := h.newLookups()
	if v.VolumeTypeID != "" {
		l.cache[v.VolumeTypeID] = vt // nil: not found, as GetType would answer
	}
	b, err := appendJSON(nil, volumeDetail(ctx, v, l, true))
	if err != nil {
		return nil, err
	}
	if !l.failed {
		h.views.put(id, variant, v.Rev, settledStatus(v.Status), b)
	}
	return b, nil
}

// newListLookups is newLookups with the attachments of the attached volumes among vols read in
// one query.
func (h *Handler) newListLookups(ctx context.Context, vols []*model.Volume) (*viewLookups, error) {
	l := h.newLookups()
	var attached []string
	for _, v := range vols {
		if v.AttachStatus == model.AttachAttached {
			attached = append(attached, v.ID)
		}
	}
	var err error
	l.atts, err = h.svc.AttachmentsOf(ctx, attached)
	return l, err
}
