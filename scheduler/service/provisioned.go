package service

import (
	"context"
	"maps"
	"sync"
	"time"

	"github.com/dlvm-project/dlvm/db"
	"github.com/dlvm-project/dlvm/model"
)

// provisionedTTL is how long a scheduler reuses the bytes provisioned on each dpv before it sums
// the legs table again. The sum reads every leg, so at 10,000 volumes reading it for every
// placement made creates several times slower; capacity is a weigher and filter input, which
// Cinder's scheduler too takes from periodic reports plus its own placements since. The dpvs
// themselves (state, draining, heartbeat, size) are read fresh for every placement.
const provisionedTTL = time.Second

// provisioned is the scheduler's copy of the provisioned bytes per dpv: read from the database
// at most every provisionedTTL, plus the legs this process placed since.
type provisioned struct {
	mu    sync.Mutex
	at    time.Time // when bytes was read; zero: never
	bytes map[string]int64
}

// get returns the provisioned bytes per dpv (a copy the caller may keep), summing the legs again
// when the copy is older than provisionedTTL at now.
func (p *provisioned) get(ctx context.Context, st *db.Store, now time.Time) (map[string]int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.at.IsZero() || now.Sub(p.at) >= provisionedTTL || now.Before(p.at) {
		b, err := st.ProvisionedBytesByDPV(ctx)
		if err != nil {
			return nil, err
		}
		p.bytes, p.at = b, now
	}
	return maps.Clone(p.bytes), nil
}

// add counts legs this process just recorded, so its next placements before the next read see
// them.
func (p *provisioned) add(legs []*model.Leg) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bytes == nil {
		return // nothing read yet: the next get reads the table, these legs included
	}
	for _, l := range legs {
		p.bytes[l.DPVID] += l.SizeBytes
	}
}
