package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"imapd/auth"
	"imapd/imapd"
)

// The example configuration parses, and names every limit (issue 9:
// each has a default, a key and a line in imapd.toml.example), as the
// README's Limits table does.
func TestExampleConfigNamesEveryLimit(t *testing.T) {
	if _, err := loadConfig("../../imapd.toml.example"); err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../imapd.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// Old names are documented with their new key, not given a line.
	oldNames := map[string]string{"login_concurrency": "hash_workers"}
	typ := reflect.TypeOf(LimitsConfig{})
	for i := range typ.NumField() {
		key := typ.Field(i).Tag.Get("toml")
		if key == "" {
			t.Fatalf("LimitsConfig.%s has no toml key", typ.Field(i).Name)
		}
		if _, old := oldNames[key]; old {
			continue
		}
		if !strings.Contains(string(example), "\n"+key+" = ") {
			t.Errorf("imapd.toml.example has no line for [limits] %s", key)
		}
		if !strings.Contains(string(readme), "| `"+key+"` |") {
			t.Errorf("README's Limits table has no row for %s", key)
		}
	}
	// The login cache and hashing pool's bounds live in [auth], with a
	// table of their own.
	for _, key := range []string{"cache_ttl", "cache_size", "cache_pam", "hash_workers"} {
		if !strings.Contains(string(example), "\n"+key+" = ") {
			t.Errorf("imapd.toml.example has no line for [auth] %s", key)
		}
		if !strings.Contains(string(readme), "| `"+key+"` |") {
			t.Errorf("README's login cache table has no row for %s", key)
		}
	}
	for old, key := range oldNames {
		for name, text := range map[string][]byte{"imapd.toml.example": example, "README": readme} {
			if !strings.Contains(string(text), old) {
				t.Errorf("%s does not say that %s is the old name of %s", name, old, key)
			}
		}
	}
}

// writeTestConfig writes a config file of the given text and returns
// its path.
func writeTestConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "imapd.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// [auth] hash_workers sizes the hashing pool; [limits]
// login_concurrency, its old name, still does when hash_workers is not
// set; the two set to different values is refused.
func TestHashWorkersAndItsOldName(t *testing.T) {
	for _, tc := range []struct {
		text string
		want int // 0: the default (half the CPUs)
	}{
		{"", 0},
		{"[auth]\nhash_workers = 3\n", 3},
		{"[limits]\nlogin_concurrency = 5\n", 5},
		{"[auth]\nhash_workers = 4\n[limits]\nlogin_concurrency = 4\n", 4},
	} {
		cfg, err := loadConfig(writeTestConfig(t, tc.text))
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if cfg.Auth.HashWorkers != tc.want || cfg.Limits.imapd().LoginConcurrency != tc.want {
			t.Errorf("%q: hash_workers %d, imapd.Limits.LoginConcurrency %d; want %d",
				tc.text, cfg.Auth.HashWorkers, cfg.Limits.imapd().LoginConcurrency, tc.want)
		}
	}
	_, err := loadConfig(writeTestConfig(t, "[auth]\nhash_workers = 2\n[limits]\nlogin_concurrency = 3\n"))
	if err == nil || !strings.Contains(err.Error(), "hash_workers") {
		t.Fatalf("both names, different values: err = %v", err)
	}
}

// The [auth] cache keys reach the htpasswd backend: by default a login
// is remembered; cache_ttl = "0s" or cache_size = 0 remembers none.
func TestAuthCacheConfig(t *testing.T) {
	dir := t.TempDir()
	htpasswd := filepath.Join(dir, "htpasswd")
	if err := auth.Update(htpasswd, func(f *auth.File) error {
		f.BcryptCost = bcrypt.MinCost
		return f.Set("alice", "a-pw")
	}); err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("[auth]\nhtpasswd = %q\nmail_location = %q\n", htpasswd, dir+"/%u/Maildir")
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		extra  string
		cached bool
	}{
		{"", true},
		{"cache_ttl = \"10m\"\ncache_size = 5\n", true},
		{"cache_ttl = \"0s\"\n", false},
		{"cache_size = 0\n", false},
	} {
		cfg, err := loadConfig(writeTestConfig(t, base+tc.extra))
		if err != nil {
			t.Fatal(err)
		}
		a, _, err := newAuthenticator(cfg, logger)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Authenticate(context.Background(), "alice", "a-pw"); err != nil {
			t.Fatal(err)
		}
		if _, ok := a.(auth.QuickChecker).QuickCheck("alice", "a-pw"); ok != tc.cached {
			t.Errorf("%q: login cached %v, want %v", tc.extra, ok, tc.cached)
		}
	}
}

// The [folders] section: the defaults create the five usual folders; a
// use left "" is dropped; a name the store would refuse, or INBOX, is
// refused when the config is read.
func TestFoldersConfig(t *testing.T) {
	def := defaultConfig().Folders
	if got := def.special(); len(got) != 5 || !def.Create {
		t.Errorf("default [folders]: %v, create %v; want five folders, created", got, def.Create)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		body, err string
		want      []imapd.SpecialFolder
	}{
		{"[folders]\nsent = \"Gesendet\"\ndrafts = \"\"\ntrash = \"\"\njunk = \"Spam\"\narchive = \"\"\ncreate = false\n", "",
			[]imapd.SpecialFolder{{Use: `\Sent`, Name: "Gesendet"}, {Use: `\Junk`, Name: "Spam"}}},
		{"[folders]\ntrash = \"inbox\"\n", "INBOX cannot be the trash folder", nil},
		{"[folders]\nsent = \"a..b\"\n", `"a..b" is not a valid folder name`, nil},
	} {
		path := dir + "/imapd.toml"
		if err := os.WriteFile(path, []byte(tc.body), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := loadConfig(path)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%q: %v", tc.body, err)
		}
		if got := cfg.Folders.special(); !reflect.DeepEqual(got, tc.want) || cfg.Folders.Create {
			t.Errorf("%q: %v (create %v), want %v", tc.body, got, cfg.Folders.Create, tc.want)
		}
	}
}
