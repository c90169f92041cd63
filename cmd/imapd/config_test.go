package main

import (
	"os"
	"reflect"
	"strings"
	"testing"

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
	typ := reflect.TypeOf(LimitsConfig{})
	for i := range typ.NumField() {
		key := typ.Field(i).Tag.Get("toml")
		if !strings.Contains(string(example), "\n"+key+" = ") {
			t.Errorf("imapd.toml.example has no line for [limits] %s", key)
		}
		if !strings.Contains(string(readme), "| `"+key+"` |") {
			t.Errorf("README's Limits table has no row for %s", key)
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
