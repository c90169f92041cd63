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

# make install: DESTDIR stages a package root; PREFIX is where the binaries
# run from. Units go to $(PREFIX)/lib/systemd/system: with the default
# PREFIX that is /usr/local/lib/systemd/system, which systemd reads for
# units the administrator installs and dpkg never touches, and with
# PREFIX=/usr (a Debian package) it is /usr/lib/systemd/system, the same
# directory as /lib/systemd/system on merged-/usr Debian 12 and where
# Debian 13 packages put units. /lib/systemd/system itself would put a
# local install among dpkg's files. Config and PAM files go to /etc
# whatever the PREFIX, as Debian's packages do.
PREFIX ?= /usr/local
DESTDIR ?=
UNITDIR ?= $(PREFIX)/lib/systemd/system
UNITS = $(wildcard contrib/systemd/*.service contrib/systemd/*.socket)
# Sources the binaries are built from: install rebuilds only when one is
# newer, so `make build && sudo make install` runs no Go as root.
GOSRC = $(shell find . -path ./var -prune -o -path ./bin -prune -o -name '*.go' -print) go.mod go.sum

.PHONY: all build run test test-unit fuzz-smoke vet bench clean install

all: build

build:
	$(GO) build -o bin/imapd ./cmd/imapd
	$(GO) build -o bin/imapctl ./cmd/imapctl

bin/imapd: $(GOSRC)
	$(GO) build -o bin/imapd ./cmd/imapd

bin/imapctl: $(GOSRC)
	$(GO) build -o bin/imapctl ./cmd/imapctl

install: bin/imapd bin/imapctl
	install -D -m 0755 bin/imapd $(DESTDIR)$(PREFIX)/bin/imapd
	install -D -m 0755 bin/imapctl $(DESTDIR)$(PREFIX)/bin/imapctl
	install -D -m 0644 imapd.toml.example $(DESTDIR)/etc/imapd/imapd.toml.example
	install -D -m 0644 contrib/pam.d/imapd $(DESTDIR)/etc/pam.d/imapd
	@set -e; for u in $(UNITS); do \
		f=$(DESTDIR)$(UNITDIR)/$${u##*/}; \
		echo "install -D -m 0644 $$u $$f"; \
		install -D -m 0644 $$u $$f; \
		sed -i 's|/usr/local/bin/imapd|$(PREFIX)/bin/imapd|g' $$f; \
	done

# PORT=2143 serves the demo on 127.0.0.1:2143 instead of the demo config's 1143.
run:
	$(GO) run ./cmd/imapd -demo ./var $(if $(PORT),-listen 127.0.0.1:$(PORT))

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }

test-unit:
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run '^(TestWaitingSessionStacksShrink|TestBurstEndsInCollection)$$' ./imapd

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
	$(GO) test -run '^$$' -bench Login -benchmem ./auth/
	$(GO) test -run '^$$' -bench 'Fetch|Search|Store|Select' -benchtime 5x ./imapd/
	$(GO) test -run '^$$' -bench 'Session' -benchtime 500x ./imapd/
	$(GO) test -run '^$$' -bench 'IdleMemory|DeliveryToExists' -benchtime 1x ./imapd/
	$(GO) test -run '^$$' -bench Hostile -benchtime 1x ./cmd/imapd/

clean:
	rm -rf bin
