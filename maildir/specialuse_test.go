package maildir

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// The special-use sidecar: recorded uses survive a restart, follow
// Rename (children too) and go with Delete (children stay), and names
// with spaces and non-ASCII letters round-trip.
func TestSpecialUseSidecar(t *testing.T) {
	_, s := newStore(t)
	if _, existed, err := s.SpecialUse(); err != nil || existed {
		t.Fatalf("fresh Maildir: existed %v, %v", existed, err)
	}
	for _, n := range []string{"Papierkörbe", "Old Mail", "Old Mail.2024"} {
		if err := s.Create(n); err != nil {
			t.Fatal(err)
		}
	}
	err := s.EditSpecialUse(func(uses map[string][]string, existed bool) error {
		if existed {
			t.Error("existed before the first edit")
		}
		uses["Papierkörbe"] = []string{`\Trash`}
		uses["Old Mail"] = []string{`\Archive`, `\Sent`}
		uses["Old Mail.2024"] = []string{`\Archive`}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, want map[string][]string) {
		t.Helper()
		got, existed, err := reopen(t, s).SpecialUse()
		if err != nil || !existed || !maps.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: %v (existed %v, %v), want %v", what, got, existed, err, want)
		}
	}
	check("after the edit", map[string][]string{
		"Papierkörbe": {`\Trash`}, "Old Mail": {`\Archive`, `\Sent`}, "Old Mail.2024": {`\Archive`}})

	if err := s.Rename("Old Mail", "Older"); err != nil {
		t.Fatal(err)
	}
	check("after RENAME", map[string][]string{
		"Papierkörbe": {`\Trash`}, "Older": {`\Archive`, `\Sent`}, "Older.2024": {`\Archive`}})

	if err := s.Delete("Older"); err != nil {
		t.Fatal(err)
	}
	check("after DELETE", map[string][]string{"Papierkörbe": {`\Trash`}, "Older.2024": {`\Archive`}})

	data := readFileString(s.Root() + "/" + specialUseFile)
	if !strings.Contains(data, `\Trash Papierk&APY-rbe`) {
		t.Errorf("names are not stored in modified UTF-7:\n%s", data)
	}
}

// Size is the exact sum of RFC822.SIZE, also for a message whose size
// nothing recorded (bare LF, no ,W= in its name).
func TestStoreSize(t *testing.T) {
	_, s := newStore(t)
	if _, err := s.Append(Inbox, strings.NewReader("Subject: a\r\n\r\nbody\r\n"), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	deliver(t, s.Root(), "Subject: b\n\nbare LF\n")
	got, err := s.Size(Inbox)
	want := int64(len("Subject: a\r\n\r\nbody\r\n") + len("Subject: b\r\n\r\nbare LF\r\n"))
	if err != nil || got != want {
		t.Errorf("Size = %d, %v; want %d", got, err, want)
	}
	if _, err := s.Size("nonexistent"); err == nil {
		t.Error("Size of a missing folder: no error")
	}
}
