package auth

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"slices"
	"sync"
	"time"
)

// QuickChecker is an Authenticator that can confirm, without the cost of
// a password hash, a username and password that it checked successfully
// a short while ago (its login cache). The Throttle asks it first,
// outside the gate and the hashing pool: a mail client that reconnects
// every minute (or fifty clients of one user) costs one bcrypt per
// cache TTL, not one per login, and a storm of reconnecting clients
// whose logins are remembered never queues behind the hashing.
type QuickChecker interface {
	QuickCheck(username, password string) (Identity, bool)
}

// CacheOptions configure a backend's login cache, its memory of
// successful logins (Dovecot's auth_cache_ttl and auth_cache_size).
type CacheOptions struct {
	// TTL is how long a verified username and password are trusted
	// without a password check, counted from the check (a hit does not
	// extend it). Zero means DefaultCacheTTL; negative turns the cache
	// off.
	TTL time.Duration
	// Size bounds the logins remembered; when it is full, the one used
	// least recently is dropped. Zero means DefaultCacheSize; negative
	// turns the cache off.
	Size int
}

// Defaults of CacheOptions.
const (
	DefaultCacheTTL  = time.Hour
	DefaultCacheSize = 10000
)

// loginCache remembers successful logins, and nothing else: a failure
// is never cached, so a wrong password always costs a full check and
// every failure goes through the Throttle's delays.
//
// It keeps no password. A login is found by a key, the HMAC-SHA256
// under a random secret of this cache (which never leaves memory) of
// the scope, the username and the password: it matches only the exact
// triple that was verified and says nothing of the password without
// the secret. The scope is what the verification depended on besides
// the password: for htpasswd the hash on the user's line, so that a
// changed line (a new password, a removed and re-added user) can never
// match an entry made under the old one.
//
// A nil *loginCache is a cache that is off: it remembers nothing.
type loginCache struct {
	// secret keys the HMAC.
	secret [32]byte
	// ttl and size are the options, defaults filled in.
	ttl  time.Duration
	size int
	// now is the clock.
	now func() time.Time

	// mu guards the fields below; it is never held while hashing a
	// password, only for the map and list operations.
	mu sync.Mutex
	// entries finds an element of lru by key.
	entries map[[sha256.Size]byte]*list.Element
	// lru holds *cacheEntry values, most recently used first.
	lru *list.List
}

// cacheEntry is one remembered login.
type cacheEntry struct {
	key     [sha256.Size]byte
	id      Identity
	expires time.Time
}

// newLoginCache returns a cache with the options o, or nil when o turns
// it off.
func newLoginCache(o CacheOptions, now func() time.Time) *loginCache {
	if o.TTL < 0 || o.Size < 0 {
		return nil
	}
	if o.TTL == 0 {
		o.TTL = DefaultCacheTTL
	}
	if o.Size == 0 {
		o.Size = DefaultCacheSize
	}
	if now == nil {
		now = time.Now
	}
	c := &loginCache{ttl: o.TTL, size: o.Size, now: now,
		entries: make(map[[sha256.Size]byte]*list.Element), lru: list.New()}
	rand.Read(c.secret[:])
	return c
}

// key is the HMAC of scope, username and password, each preceded by its
// length so that no two triples are written the same.
func (c *loginCache) key(scope, username, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.secret[:])
	for _, s := range [...]string{scope, username, password} {
		writeField(m, s)
	}
	var k [sha256.Size]byte
	m.Sum(k[:0])
	return k
}

func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

// get returns the identity of a login verified under scope within the
// TTL, and marks it used.
func (c *loginCache) get(scope, username, password string) (Identity, bool) {
	if c == nil {
		return Identity{}, false
	}
	k := c.key(scope, username, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return Identity{}, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.removeLocked(el)
		return Identity{}, false
	}
	c.lru.MoveToFront(el)
	id := e.id
	id.Groups = slices.Clone(id.Groups) // the caller's to keep
	return id, true
}

// put remembers a login that was just verified under scope, dropping the
// least recently used when the cache is full.
func (c *loginCache) put(scope, username, password string, id Identity) {
	if c == nil {
		return
	}
	k := c.key(scope, username, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e := &cacheEntry{key: k, id: id, expires: c.now().Add(c.ttl)}
	if el, ok := c.entries[k]; ok {
		el.Value = e
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.size {
		c.removeLocked(c.lru.Back())
	}
	c.entries[k] = c.lru.PushFront(e)
}

// purge forgets every login.
func (c *loginCache) purge() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	c.lru.Init()
}

// count returns the number of logins remembered, expired ones included.
func (c *loginCache) count() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

func (c *loginCache) removeLocked(el *list.Element) {
	delete(c.entries, el.Value.(*cacheEntry).key)
	c.lru.Remove(el)
}
