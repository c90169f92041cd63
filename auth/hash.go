package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"strconv"
	"strings"

	crypt "github.com/GehirnInc/crypt"
	"github.com/GehirnInc/crypt/sha256_crypt"
	"github.com/GehirnInc/crypt/sha512_crypt"
	htpasswd "github.com/tg123/go-htpasswd"
	"golang.org/x/crypto/bcrypt"
)

// The hashes an htpasswd line may hold. Anything else is refused: a bare
// string could be a plaintext password or a DES crypt (13 characters that
// cannot be told from a password, and truncated to 8), and
// go-htpasswd's default parser list would take it as plaintext.
//
//	$2a$ $2b$ $2y$   bcrypt
//	$5$  $6$         SHA-256-crypt, SHA-512-crypt (optional rounds=N$)
//	$apr1$           Apache's MD5 (htpasswd's default)
//	$1$              MD5-crypt
//	{SHA}            base64 of an unsalted SHA-1 (htpasswd -s)
//
// bcrypt, MD5 and {SHA} are checked by go-htpasswd's own matchers, after our
// stricter shape check. SHA-crypt is checked here with GehirnInc/crypt
// directly: go-htpasswd's matcher panics on some malformed hashes.

var (
	errUnrecognisedHash = errors.New("unrecognised password hash (plaintext and DES crypt are refused)")
	errMalformedHash    = errors.New("malformed password hash")
)

// hashParser recognises one family of hashes: it returns (nil, nil) for a
// hash of another family and errMalformedHash for a broken one of its own.
// Errors never quote the hash.
type hashParser func(hash string) (htpasswd.EncodedPasswd, error)

// parseHash finds the matcher for an htpasswd hash, trying an explicit list
// of parsers; it never falls back to plaintext.
func parseHash(hash string) (htpasswd.EncodedPasswd, error) {
	for _, p := range []hashParser{acceptBcrypt, acceptMD5, acceptSHA1, acceptSHACrypt} {
		m, err := p(hash)
		if err != nil {
			return nil, err
		}
		if m != nil {
			return m, nil
		}
	}
	return nil, errUnrecognisedHash
}

func acceptBcrypt(hash string) (htpasswd.EncodedPasswd, error) {
	if !hasAnyPrefix(hash, "$2a$", "$2b$", "$2y$") {
		return nil, nil
	}
	if _, err := bcrypt.Cost([]byte(hash)); err != nil || len(hash) != 60 {
		return nil, fmt.Errorf("%w (bcrypt)", errMalformedHash)
	}
	return wrapLibrary(htpasswd.AcceptBcrypt(hash))
}

// bcryptCost is the cost of a bcrypt hash, or 0 for any other hash.
func bcryptCost(hash string) int {
	if !hasAnyPrefix(hash, "$2a$", "$2b$", "$2y$") {
		return 0
	}
	c, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return 0
	}
	return c
}

func acceptMD5(hash string) (htpasswd.EncodedPasswd, error) {
	var rest string
	switch {
	case strings.HasPrefix(hash, "$apr1$"):
		rest = hash[len("$apr1$"):]
	case strings.HasPrefix(hash, "$1$"):
		rest = hash[len("$1$"):]
	default:
		return nil, nil
	}
	salt, sum, ok := strings.Cut(rest, "$")
	if !ok || len(salt) > 8 || !cryptAlphabet(salt) || len(sum) != 22 || !cryptAlphabet(sum) {
		return nil, fmt.Errorf("%w (MD5)", errMalformedHash)
	}
	return wrapLibrary(htpasswd.AcceptMd5(hash))
}

func acceptSHA1(hash string) (htpasswd.EncodedPasswd, error) {
	if !strings.HasPrefix(hash, "{SHA}") {
		return nil, nil
	}
	return wrapLibrary(htpasswd.AcceptSha(hash))
}

// wrapLibrary replaces a go-htpasswd parse error, whose text quotes the hash,
// with one that does not.
func wrapLibrary(m htpasswd.EncodedPasswd, err error) (htpasswd.EncodedPasswd, error) {
	if err != nil || m == nil {
		return nil, errMalformedHash
	}
	return m, nil
}

// shaCrypt matches a SHA-256-crypt or SHA-512-crypt hash.
//
// It hashes with the setting (prefix, rounds, salt) alone and compares the
// result, rather than calling Verify with the whole hash: GehirnInc/crypt
// then takes the salt to be everything after "rounds=N$", so a hash with
// rounds and a salt shorter than 16 characters would never match.
type shaCrypt struct {
	// hash is the stored hash; setting is its part before the last '$'.
	hash, setting string
	// crypter computes the hash.
	crypter crypt.Crypter
}

func (s *shaCrypt) MatchesPassword(pw string) bool {
	h, err := s.crypter.Generate([]byte(pw), []byte(s.setting))
	return err == nil && subtle.ConstantTimeCompare([]byte(h), []byte(s.hash)) == 1
}

func acceptSHACrypt(hash string) (htpasswd.EncodedPasswd, error) {
	var c crypt.Crypter
	var sumLen int
	switch {
	case strings.HasPrefix(hash, sha256_crypt.MagicPrefix):
		c, sumLen = sha256_crypt.New(), 43
	case strings.HasPrefix(hash, sha512_crypt.MagicPrefix):
		c, sumLen = sha512_crypt.New(), 86
	default:
		return nil, nil
	}
	bad := fmt.Errorf("%w (SHA-crypt)", errMalformedHash)
	rest := hash[3:]
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		n, after, ok := strings.Cut(r, "$")
		// Stored hashes carry the clamped count (1000..999999999); any other
		// value could never match, so the line is refused outright.
		rounds, err := strconv.Atoi(n)
		if !ok || err != nil || n != strconv.Itoa(rounds) || rounds < 1000 || rounds > 999999999 {
			return nil, bad
		}
		rest = after
	}
	salt, sum, ok := strings.Cut(rest, "$")
	if !ok || len(salt) > 16 || len(sum) != sumLen || !cryptAlphabet(sum) {
		return nil, bad
	}
	return &shaCrypt{hash: hash, setting: hash[:len(hash)-len(sum)-1], crypter: c}, nil
}

// cryptAlphabet reports whether s uses only the crypt base-64 characters.
func cryptAlphabet(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '.' || c == '/' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// Scheme is a password hash that File.Set can write.
type Scheme int

const (
	// Bcrypt writes "$2a$" hashes at File.BcryptCost (default 10).
	Bcrypt Scheme = iota
	// SHA512Crypt writes "$6$" hashes with 5000 rounds and a 16-character
	// salt, for systems whose other tools (or crypt(3)) lack bcrypt.
	SHA512Crypt
)

func (s Scheme) String() string {
	switch s {
	case Bcrypt:
		return "bcrypt"
	case SHA512Crypt:
		return "sha512-crypt"
	}
	return "Scheme(" + strconv.Itoa(int(s)) + ")"
}

// DefaultBcryptCost is the bcrypt cost File.Set uses unless told otherwise.
const DefaultBcryptCost = 10

// hashPassword hashes a new password. bcrypt refuses passwords longer than
// 72 bytes rather than silently ignoring the rest.
func hashPassword(password string, s Scheme, bcryptCost int) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	switch s {
	case Bcrypt:
		if bcryptCost == 0 {
			bcryptCost = DefaultBcryptCost
		}
		h, err := bcrypt.GenerateFromPassword([]byte(password), bcryptCost)
		if err != nil {
			return "", fmt.Errorf("bcrypt: %w", err)
		}
		return string(h), nil
	case SHA512Crypt:
		return sha512_crypt.New().Generate([]byte(password), nil)
	}
	return "", fmt.Errorf("unknown password scheme %v", s)
}

// dummyHash makes a bcrypt hash of a random password at cost, to compare
// against when there is no real hash (unknown user, refused line), so that
// such a failure costs as much as a wrong password.
func dummyHash(cost int) ([]byte, error) {
	return bcrypt.GenerateFromPassword([]byte(rand.Text()), cost)
}
