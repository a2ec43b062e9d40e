package keystone

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache remembers validated tokens until a deadline, bounded in size (least recently used
// entries go first). Keys are SHA-256 digests, so raw tokens are not kept as map keys.
type tokenCache struct {
	mu    sync.Mutex
	max   int
	lru   *list.List // of *cacheEntry, front = most recent
	items map[[32]byte]*list.Element
}

type cacheEntry struct {
	key   [32]byte
	ac    *Context
	until time.Time
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, lru: list.New(), items: make(map[[32]byte]*list.Element)}
}

func cacheKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// get returns the cached context of token if its deadline is after now. A nil context with ok
// true is a cached refusal.
func (c *tokenCache) get(token string, now time.Time) (*Context, bool) {
	k := cacheKey(token)
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.until) {
		c.lru.Remove(el)
		delete(c.items, k)
		return nil, false
	}
	c.lru.MoveToFront(el)
	return e.ac, true
}

// put stores ac (nil: a refusal) for token until the deadline, evicting the least recently used entry when full.
func (c *tokenCache) put(token string, ac *Context, until time.Time) {
	k := cacheKey(token)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*cacheEntry)
		e.ac, e.until = ac, until
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
	c.items[k] = c.lru.PushFront(&cacheEntry{key: k, ac: ac, until: until})
}

// drop forgets token; a token not cached is no error.
func (c *tokenCache) drop(token string) {
	k := cacheKey(token)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		c.lru.Remove(el)
		delete(c.items, k)
	}
}
