package auth

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/GehirnInc/crypt/apr1_crypt"
	"github.com/GehirnInc/crypt/md5_crypt"
	"github.com/GehirnInc/crypt/sha256_crypt"
	"github.com/GehirnInc/crypt/sha512_crypt"
	"golang.org/x/crypto/bcrypt"
)

// knownAnswers are published hash/password pairs, one or more per format.
var knownAnswers = []struct{ source, hash, password string }{
	// OpenWall crypt_blowfish's test vectors (wrapper.c).
	{"crypt_blowfish", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
	{"crypt_blowfish", "$2a$05$CCCCCCCCCCCCCCCCCCCCC.VGOzA784oUp/Z0DY336zx7pLYAy0lwK", "U*U*"},
	{"crypt_blowfish", "$2a$05$XXXXXXXXXXXXXXXXXXXXXOAcXxm9kjPGEMsLznoKqmqw7tc8WCx4a", "U*U*U"},
	// $2b$ (OpenBSD) and $2y$ (crypt_blowfish, PHP, Apache) name the same
	// algorithm as a correct $2a$: the same vector under each prefix.
	{"crypt_blowfish", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
	{"crypt_blowfish", "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
	// Apache httpd docs, "Password Formats" (htpasswd -nbm / -nbs myName myPassword).
	{"Apache docs", "$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/", "myPassword"},
	{"Apache docs", "{SHA}VBPuJHI7uixaa6LQGWx4s+5GKNE=", "myPassword"},
	// openssl-passwd(1), EXAMPLES.
	{"openssl-passwd(1)", "$1$xxxxxxxx$UYCIxa628.9qXjpQCjM4a.", "password"},
	// Ulrich Drepper, "Unix crypt using SHA-256 and SHA-512", test vectors.
	{"SHA-crypt spec", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!"},
	{"SHA-crypt spec", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA", "Hello world!"},
	{"SHA-crypt spec", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!"},
	{"SHA-crypt spec", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.", "Hello world!"},
	{"SHA-crypt spec", "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0", "This is just a test"},
	{"SHA-crypt spec", "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0", "we have a short salt string but not a short password"},
	{"SHA-crypt spec", "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX.", "the minimum number is still observed"},
}

func TestKnownAnswers(t *testing.T) {
	for _, ka := range knownAnswers {
		m, err := parseHash(ka.hash)
		if err != nil {
			t.Errorf("%s: parseHash(%s): %v", ka.source, ka.hash, err)
			continue
		}
		if !m.MatchesPassword(ka.password) {
			t.Errorf("%s: %s does not match %q", ka.source, ka.hash, ka.password)
		}
		for _, wrong := range []string{"", ka.password + "x", strings.ToUpper(ka.password), ka.password[1:]} {
			if wrong == ka.password {
				continue
			}
			if m.MatchesPassword(wrong) {
				t.Errorf("%s: %s matches the wrong password %q", ka.source, ka.hash, wrong)
			}
		}
	}
}

// generated makes a fresh hash of password in every format, with the Go
// implementations.
func generated(t *testing.T, password string) map[string]string {
	t.Helper()
	out := make(map[string]string)
	b, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	out["bcrypt"] = string(b)
	for name, gen := range map[string]interface {
		Generate(key, salt []byte) (string, error)
	}{
		"sha256-crypt": sha256_crypt.New(),
		"sha512-crypt": sha512_crypt.New(),
		"apr1":         apr1_crypt.New(),
		"md5-crypt":    md5_crypt.New(),
	} {
		h, err := gen.Generate([]byte(password), nil)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = h
	}
	sum := sha1.Sum([]byte(password))
	out["sha1"] = "{SHA}" + base64.StdEncoding.EncodeToString(sum[:])
	return out
}

func TestGeneratedHashes(t *testing.T) {
	const pw = "correct horse battery staple"
	for name, hash := range generated(t, pw) {
		m, err := parseHash(hash)
		if err != nil {
			t.Errorf("%s: parseHash(%s): %v", name, hash, err)
			continue
		}
		if !m.MatchesPassword(pw) || m.MatchesPassword(pw+"!") {
			t.Errorf("%s: %s does not tell the right password from a wrong one", name, hash)
		}
	}
	for _, s := range []Scheme{Bcrypt, SHA512Crypt} {
		h, err := hashPassword(pw, s, bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		m, err := parseHash(h)
		if err != nil || !m.MatchesPassword(pw) || m.MatchesPassword("x") {
			t.Errorf("%v: written hash %s does not verify (%v)", s, h, err)
		}
	}
}

// externalHashes runs a command line that prints "user:hash" or "hash".
func externalHash(t *testing.T, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(args[0]); err != nil {
		t.Skipf("%s is not installed (Debian: apache2-utils / openssl); the Go-generated hashes still cover this format", args[0])
	}
	out, err := exec.Command(args[0], args[1:]...).Output()
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	line := strings.TrimSpace(string(out))
	if _, h, ok := strings.Cut(line, ":"); ok {
		return h
	}
	return line
}

// TestExternalTools checks hashes written by the real tools administrators
// use: Apache's htpasswd and openssl passwd.
func TestExternalTools(t *testing.T) {
	const pw = "s3cret pass"
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"htpasswd bcrypt", []string{"htpasswd", "-nbB", "-C", "4", "u", pw}},
		{"htpasswd apr1", []string{"htpasswd", "-nbm", "u", pw}},
		{"htpasswd sha1", []string{"htpasswd", "-nbs", "u", pw}},
		{"htpasswd sha256-crypt", []string{"htpasswd", "-nb2", "u", pw}},
		{"htpasswd sha512-crypt", []string{"htpasswd", "-nb5", "u", pw}},
		{"htpasswd sha512-crypt rounds", []string{"htpasswd", "-nb5", "-r", "12000", "u", pw}},
		{"openssl md5-crypt", []string{"openssl", "passwd", "-1", pw}},
		{"openssl apr1", []string{"openssl", "passwd", "-apr1", pw}},
		{"openssl sha256-crypt", []string{"openssl", "passwd", "-5", pw}},
		{"openssl sha512-crypt", []string{"openssl", "passwd", "-6", pw}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hash := externalHash(t, tc.args...)
			m, err := parseHash(hash)
			if err != nil {
				t.Fatalf("parseHash(%s): %v", hash, err)
			}
			if !m.MatchesPassword(pw) || m.MatchesPassword(pw+" ") {
				t.Fatalf("%s does not tell the right password from a wrong one", hash)
			}
		})
	}
	// What htpasswd writes for -p (plaintext) and -d (DES crypt) must be refused.
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"htpasswd plaintext", []string{"htpasswd", "-nbp", "u", pw}},
		{"htpasswd crypt", []string{"htpasswd", "-nbd", "u", pw}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hash := externalHash(t, tc.args...)
			if _, err := parseHash(hash); !errors.Is(err, errUnrecognisedHash) {
				t.Fatalf("parseHash of %s output = %v, want errUnrecognisedHash", tc.name, err)
			}
		})
	}
}

func TestRefusedHashes(t *testing.T) {
	for _, hash := range []string{
		"secret",        // plaintext
		"{PLAIN}secret", // nginx-style plaintext
		"rqXexS6ZhobKA", // DES crypt from Apache's docs, indistinguishable from a password
		"",
		"$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", // buggy-variant bcrypt
		"{SSHA}abcdefgh",
		"$y$j9T$abc$def", // yescrypt
	} {
		if _, err := parseHash(hash); !errors.Is(err, errUnrecognisedHash) {
			t.Errorf("parseHash(%q) = %v, want errUnrecognisedHash", hash, err)
		}
	}
	for _, hash := range []string{
		"$2a$05$short",
		"$2a$99$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
		"$apr1$r31.....",
		"$apr1$toolongsalt$HqJZimcKQFAMYayBlzkrA/",
		"$apr1$r31.....$HqJZimcKQFAMYayBlzkrA",
		"$1$xxxxxxxx$UYCIxa628.9qXjpQCjM4a.!",
		"{SHA}not base64!",
		"{SHA}c2hvcnQ=",
		"$5$saltstring",
		"$5$saltstring$tooshort",
		"$6$rounds=abc$salt$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
		"$6$rounds=10$salt$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
		"$6$rounds=$salt$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
		"$6$rounds=5000",
		"$6$saltsaltsaltsaltX$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
	} {
		_, err := parseHash(hash)
		if !errors.Is(err, errMalformedHash) {
			t.Errorf("parseHash(%q) = %v, want errMalformedHash", hash, err)
		}
		if err != nil && strings.Contains(err.Error(), hash) {
			t.Errorf("parseHash(%q): the error quotes the hash: %v", hash, err)
		}
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	if _, err := hashPassword("", Bcrypt, bcrypt.MinCost); err == nil {
		t.Error("empty password hashed")
	}
	if _, err := hashPassword(strings.Repeat("x", 73), Bcrypt, bcrypt.MinCost); err == nil {
		t.Error("a bcrypt password over 72 bytes was silently truncated")
	}
	if _, err := hashPassword("x", Scheme(99), 0); err == nil {
		t.Error("unknown scheme accepted")
	}
}
