# Fynetune: two commands do all the set-up on a fresh Debian/Ubuntu machine with Go.
#   make run   installs what is missing, builds, starts the app
#   make test  installs what is missing, vets, runs every test
GO        ?= go
BIN       ?= ./fynetune
FIXTURES  ?= $(or $(FYNETUNE_FIXTURES),../shared/fixtures)
# Debian packages the build and the tests need (cgo toolchain; GUI and GL ones join as those parts land).
APT_PKGS  ?= gcc pkg-config

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test deps apt build vet bench clean

run: deps build
	@if [ -d "$(FIXTURES)/models/stories260K" ]; then \
	  $(BIN) generate --model "$(FIXTURES)/models/stories260K" --prompt "Once upon a time" --max-tokens 60; \
	else \
	  $(BIN) --help; \
	fi

test: deps vet
	$(GO) test -count=1 ./...

deps: apt
	$(GO) mod download

# Installs the Debian packages that are missing, as root or through sudo.
apt:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && { [ "$$(id -u)" = 0 ] || command -v sudo >/dev/null 2>&1; }; then \
	    echo "installing:$$missing"; \
	    $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	  else echo "please install:$$missing"; fi; \
	fi

build:
	$(GO) build -o $(BIN) .

vet:
	$(GO) vet ./...

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3x ./...

clean:
	rm -f $(BIN)
