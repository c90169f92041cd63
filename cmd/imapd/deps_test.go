package main

import (
	"os"
	"strings"
	"testing"
)

// README's Dependencies table has a row for every direct requirement in
// go.mod, so a module added (or one, like go-maildir, left behind) is
// explained or noticed.
func TestReadmeNamesEveryDependency(t *testing.T) {
	gomod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	inRequire, n := false, 0
	for _, line := range strings.Split(string(gomod), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "require (":
			inRequire = true
			continue
		case line == ")":
			inRequire = false
			continue
		case strings.HasPrefix(line, "require "):
			line = strings.TrimPrefix(line, "require ")
		case !inRequire:
			continue
		}
		if strings.Contains(line, "// indirect") || line == "" {
			continue
		}
		mod := strings.Fields(line)[0]
		n++
		if !strings.Contains(string(readme), "| `"+mod+"` |") {
			t.Errorf("README's Dependencies table has no row for %s", mod)
		}
	}
	if n == 0 {
		t.Fatal("found no requirement in go.mod")
	}
}
