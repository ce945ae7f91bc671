# Fynetune: two commands do all the set-up on a fresh Debian/Ubuntu machine with Go.
#   make run   installs what is missing, builds, starts the app
#   make test  installs what is missing, vets, runs every test
GO        ?= go
BIN       ?= ./fynetune
FIXTURES  ?= $(or $(FYNETUNE_FIXTURES),../shared/fixtures)
# Debian packages the build and the tests need: the cgo toolchain; EGL and OpenGL headers and Mesa
# (llvmpipe, software OpenGL 4.5) for the OpenGL compute backend and its tests; for the window, the X11
# and OpenGL headers Fyne's GLFW driver builds against, GTK 3 for the native file dialogs, and Xvfb for
# the end-to-end test of the window (and `make run` on a machine without a display).
APT_PKGS  ?= gcc pkg-config libegl-dev libgl-dev libegl-mesa0 libgl1-mesa-dri \
             libgl1-mesa-dev libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev \
             libgtk-3-dev xvfb xauth

SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

.PHONY: run test deps apt build vet bench clean

# Opens the window on the embedded demo. Without a display it runs the window on a virtual one
# (Xvfb): it trains the demo for a few steps through the window and saves a screenshot.
run: deps build
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then \
	  FYNETUNE_DEMO=1 $(BIN); \
	elif command -v xvfb-run >/dev/null 2>&1; then \
	  shot="$${TMPDIR:-/tmp}/fynetune-demo.png"; \
	  echo "no display: running the window on a virtual one (xvfb-run) to train the demo for 20 steps"; \
	  FYNETUNE_E2E=1 FYNETUNE_E2E_STEPS=20 FYNETUNE_E2E_SCREENSHOT="$$shot" \
	    xvfb-run -a -s "-screen 0 1280x800x24" $(BIN) && echo "screenshot of the window: $$shot"; \
	else \
	  echo "no display and no xvfb-run: the window cannot open here; the command line works:"; \
	  $(BIN) --help; \
	fi

test: deps vet
	$(GO) test -count=1 ./...
	# the ui package imports no GL driver: its tests also run without cgo
	CGO_ENABLED=0 $(GO) test -count=1 ./ui/

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
