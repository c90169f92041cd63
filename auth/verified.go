package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// QuickChecker is an Authenticator that can confirm, without the cost of
// a password hash, a username and password that it checked successfully
// a short while ago. The Throttle asks it first, outside the hashing
// pool: a mail client that reconnects every minute (or fifty clients of
// one user) costs one bcrypt per verifiedTTL, not one per login, and
// logins from a busy address no longer queue behind the hashing.
type QuickChecker interface {
	QuickCheck(username, password string) (Identity, bool)
}

// verifiedTTL is how long a successful check is remembered, and
// maxVerified how many are (beyond it the memory starts afresh).
const (
	verifiedTTL = 15 * time.Minute
	maxVerified = 10000
)

// verifiedCache remembers successful checks of one version of the
// password file: the file changing (a new password, a removed user)
// starts a new cache with it. It keeps no password: a key is the
// SHA-256 of a random secret of this cache, the username and the
// password, so it matches only the exact pair that was verified, and
// says nothing of a password without the secret, which never leaves
// memory. Failures are never remembered.
type verifiedCache struct {
	secret [32]byte
	mu     sync.Mutex
	seen   map[[32]byte]verifiedEntry
	now    func() time.Time
}

type verifiedEntry struct {
	id      Identity
	expires time.Time
}

func newVerifiedCache(now func() time.Time) *verifiedCache {
	c := &verifiedCache{seen: map[[32]byte]verifiedEntry{}, now: now}
	rand.Read(c.secret[:])
	return c
}

func (c *verifiedCache) key(username, password string) [32]byte {
	h := sha256.New()
	h.Write(c.secret[:])
	h.Write([]byte(username))
	h.Write([]byte{0})
	h.Write([]byte(password))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// get returns the identity of a pair verified within verifiedTTL.
func (c *verifiedCache) get(username, password string) (Identity, bool) {
	k := c.key(username, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.seen[k]
	if !ok || c.now().After(e.expires) {
		return Identity{}, false
	}
	return e.id, true
}

// put remembers a pair that was just verified.
func (c *verifiedCache) put(username, password string, id Identity) {
	k := c.key(username, password)
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seen) >= maxVerified {
		clear(c.seen)
	}
	c.seen[k] = verifiedEntry{id: id, expires: c.now().Add(verifiedTTL)}
}
