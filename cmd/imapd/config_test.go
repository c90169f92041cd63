package main

import (
	"os"
	"reflect"
	"strings"
	"testing"
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
