# imapd — see README.md. `make run` starts a demo server, `make test` runs everything CI runs.
GO ?= go
# Fuzz runs are bounded by count, not time: when a -fuzztime duration runs
# out, Go's fuzzing coordinator can race its own deadline and fail the
# target with "context deadline exceeded" and no failing input (it did on
# FuzzParse in CI). Counts give each target 5 to 20 seconds here.
FUZZTIME ?= 300000x
# A session input is a whole connection: far fewer per second.
FUZZTIME_FuzzSession ?= 2000x
# A tracker input is a whole folder history checked against a model.
FUZZTIME_FuzzTracker ?= 40000x

.PHONY: all build run test test-unit fuzz-smoke vet bench clean

all: build

build:
	$(GO) build -o bin/imapd ./cmd/imapd
	$(GO) build -o bin/imapctl ./cmd/imapctl

# PORT=2143 serves the demo on 127.0.0.1:2143 instead of the demo config's 1143.
run:
	$(GO) run ./cmd/imapd -demo ./var $(if $(PORT),-listen 127.0.0.1:$(PORT))

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test-unit:
	$(GO) test -race -count=1 ./...

# A short, bounded run of every fuzz target (CI's smoke run).
fuzz-smoke:
	@set -e; for spec in $$($(GO) test -list 'Fuzz.*' ./... | awk '/^Fuzz/ {names = names " " $$1} /^ok/ {n = split(names, a, " "); for (i = 1; i <= n; i++) print $$2":"a[i]; names = ""}'); do \
		pkg=$${spec%%:*}; fn=$${spec##*:}; \
		ft=$(FUZZTIME); [ "$$fn" = FuzzSession ] && ft=$(FUZZTIME_FuzzSession); \
		[ "$$fn" = FuzzTracker ] && ft=$(FUZZTIME_FuzzTracker); \
		echo "fuzz $$pkg $$fn ($$ft)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $$ft $$pkg; \
	done

test: vet test-unit fuzz-smoke

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./maildir/
	$(GO) test -run '^$$' -bench 'Fetch|Search' -benchtime 5x ./imapd/
	$(GO) test -run '^$$' -bench 'Session' -benchtime 500x ./imapd/
	$(GO) test -run '^$$' -bench Hostile -benchtime 1x ./cmd/imapd/

clean:
	rm -rf bin
