#!/usr/bin/env bash
# gpu-check.sh: checks Fynetune's OpenGL compute backend on a Linux machine
# with an NVIDIA GPU and no display, and measures it against the CPU.
#
#   scripts/gpu-check.sh            run the checks from the repository root
#                                   (at most about 8 minutes)
#   scripts/gpu-check.sh --prepare  on a build machine with Go: build the
#                                   binaries and gather what a bare GPU
#                                   machine without Go lacks into .gpucheck/
#
# The run:
#   1. prints the card and driver (nvidia-smi);
#   2. makes sure libEGL is there: apt-get when it works, else the .deb files
#      of .gpucheck/debs (from --prepare), and points glvnd at NVIDIA's EGL
#      vendor file when the driver keeps it under /usr/local/nvidia;
#   3. builds with Go when Go is installed (else uses .gpucheck/'s binaries);
#   4. runs the GL parity tests: the backend suite, the comparisons with the
#      CPU backend and the 20-step LoRA parity on stories260K
#      (go test ./compute/gl/ ./train/ -run 'GL|Parity|AgainstCPU|Quant|Large|Pieces');
#   5. runs the shader benchmarks (dense f32 and NF4 matmul at 4096²) and a
#      profiled GPT-2-124M training step (GPU time per kernel);
#   6. runs `fynetune bench` on the GPT-2-124M shape (batch 8 × 512) with
#      --backend gpu and --backend cpu and prints both.
# Every step has its own time limit; the script goes on after a failure and
# exits non-zero when any step failed. Logs go to $GPU_CHECK_LOG (a folder)
# when set. Fixtures: $FYNETUNE_FIXTURES and $FYNETUNE_GOLDEN, else
# ../shared beside the checkout, else .gpucheck/fixtures and .gpucheck/golden.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PREP=.gpucheck
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)

if [ "${1:-}" = "--prepare" ]; then
	mkdir -p "$PREP/debs"
	ex=$(git rev-parse --git-path info/exclude 2>/dev/null || echo .git/info/exclude)
	grep -qx '/.gpucheck/' "$ex" 2>/dev/null || echo '/.gpucheck/' >>"$ex" || true
	# -tags egl: go-gl loads through EGL alone, so the GL code needs
	# libEGL.so.1 and libGLdispatch.so.0, not libGL and X11 (the GUI's
	# toolkit may still need X11 libraries: see the packages below).
	echo "building into $PREP/"
	ok=1
	go build -tags egl -trimpath -ldflags="-s -w" -o "$PREP/fynetune" . || { echo "building fynetune failed"; ok=0; }
	go test -c -tags egl -trimpath -ldflags="-s -w" -o "$PREP/gl.test" ./compute/gl/ || { echo "building the compute/gl tests failed"; ok=0; }
	go test -c -tags egl -trimpath -ldflags="-s -w" -o "$PREP/train.test" ./train/ || { echo "building the train tests failed"; ok=0; }
	# The Debian packages of every shared library the binaries load (but
	# libc), for a machine that lacks some: the run unpacks those it needs
	# into .gpucheck/root.
	pkgs=$(for b in "$PREP"/fynetune "$PREP"/*.test; do [ -x "$b" ] && ldd "$b"; done |
		awk '/=> \// {print $3}' | sort -u | while read -r l; do
			dpkg -S "$l" 2>/dev/null || dpkg -S "$(readlink -f "$l")" 2>/dev/null
		done | cut -d: -f1 | sort -u | grep -vx 'libc6' | tr '\n' ' ')
	# Compressed, the binaries and the rest stay well under the 64 MiB a
	# device run may carry; the run unpacks them.
	for b in fynetune gl.test train.test; do
		[ -f "$PREP/$b" ] && xz -T0 -6 -f "$PREP/$b"
	done
	fx=${FYNETUNE_FIXTURES:-../shared/fixtures}
	gd=${FYNETUNE_GOLDEN:-../shared/golden}
	if [ -d "$fx/models/stories260K" ] && [ -f "$gd/stories260K/tokens.json" ]; then
		mkdir -p "$PREP/fixtures/models" "$PREP/fixtures/datasets" "$PREP/golden/stories260K"
		cp -r "$fx/models/stories260K" "$PREP/fixtures/models/"
		cp "$fx/datasets/tinystories_sample.txt" "$PREP/fixtures/datasets/" 2>/dev/null || true
		cp "$gd/stories260K/tokens.json" "$PREP/golden/stories260K/"
		chmod -R u+w "$PREP/fixtures" "$PREP/golden"
	else
		echo "note: stories260K or its golden tokens not found; the LoRA parity test will be skipped there"
	fi
	echo "library packages: $pkgs"
	o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
	mkdir -p /tmp/amd64/partial
	if [ -n "$pkgs" ] && apt-get $o update -qq && (cd "$PREP/debs" && apt-get $o download $pkgs); then
		echo "downloaded: $(ls "$PREP/debs" | tr '\n' ' ')"
	else
		echo "note: could not download the library packages; the GPU machine must have them"
	fi
	du -sh "$PREP"
	echo "carry $PREP to the GPU machine and run scripts/gpu-check.sh there"
	[ "$ok" = 1 ] || exit 1
	exit 0
fi

# (Fyne, linked into fynetune, complains about the locale "C")
export LANG=en_US.UTF-8 LC_ALL=
LOG=${GPU_CHECK_LOG:-}
[ -n "$LOG" ] && mkdir -p "$LOG"
FAILED=()
T0=$(date +%s)

# step NAME SECONDS COMMAND...: runs a command with a time limit, tees its
# output into $LOG/NAME.log and records a failure.
step() {
	local name=$1 secs=$2
	shift 2
	echo
	echo "=== $name (limit ${secs}s, $(($(date +%s) - T0))s elapsed)"
	local rc
	if [ -n "$LOG" ]; then
		timeout --kill-after=10 "$secs" "$@" 2>&1 | tee "$LOG/$name.log"
		rc=${PIPESTATUS[0]}
	else
		timeout --kill-after=10 "$secs" "$@" 2>&1
		rc=$?
	fi
	if [ "$rc" != 0 ]; then
		[ "$rc" = 124 ] && echo "--- $name: timed out after ${secs}s"
		echo "--- $name: FAILED (exit $rc)"
		FAILED+=("$name")
	fi
	return 0
}

echo "=== machine"
uname -srm
if command -v nvidia-smi >/dev/null; then
	nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader |
		sed 's/^/card, driver, memory: /'
else
	echo "nvidia-smi not found: is this an NVIDIA machine?"
fi

# Build when Go is here; else use the prepared binaries.
if command -v go >/dev/null; then
	for p in gcc pkg-config libegl-dev; do
		dpkg -s "$p" >/dev/null 2>&1 || MISSING="${MISSING:-} $p"
	done
	if [ -n "${MISSING:-}" ]; then
		timeout 60 $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 180 $SUDO apt-get install -y -qq $MISSING >/dev/null ||
			echo "could not install:$MISSING"
	fi
	mkdir -p "$PREP"
	rm -f "$PREP"/*.xz
	step build 300 bash -c "go build -tags egl -o $PREP/fynetune . && go test -c -tags egl -o $PREP/gl.test ./compute/gl/ && go test -c -tags egl -o $PREP/train.test ./train/"
fi
# Binaries compressed by --prepare.
for f in "$PREP"/*.xz; do
	[ -f "$f" ] || continue
	b=${f%.xz}
	[ -x "$b" ] && continue
	if command -v xz >/dev/null; then
		xz -dkc "$f" >"$b"
	else
		python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$f" "$b"
	fi
	chmod +x "$b"
done
if [ ! -x "$PREP/gl.test" ]; then
	echo "$PREP/gl.test is missing: install Go, or run scripts/gpu-check.sh --prepare on a build machine and carry $PREP"
	exit 2
fi


# Shared libraries the binaries need and this machine lacks (libEGL, X11
# libraries of the GUI toolkit): from the packages --prepare gathered,
# unpacked into .gpucheck/root (not over /), else through apt.
missing_libs() {
	for b in "$PREP"/fynetune "$PREP"/*.test; do [ -x "$b" ] && ldd "$b" 2>/dev/null; done |
		awk '/not found/ {print $1}' | sort -u
}
if [ -d "$PREP" ]; then
	export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$ROOT/$PREP/root/usr/lib/x86_64-linux-gnu:$ROOT/$PREP/root/lib/x86_64-linux-gnu"
fi
need=$(missing_libs)
if [ -n "$need" ]; then
	echo "missing libraries: $(echo $need)"
	# --prepare downloaded exactly the packages the binaries need on a bare
	# machine (the whole dependency closure): unpack them all.
	for f in "$PREP"/debs/*.deb; do
		[ -f "$f" ] || continue
		dpkg -x "$f" "$PREP/root" && echo "unpacked $(basename "$f")"
	done
	need=$(missing_libs)
	if [ -n "$need" ] && command -v apt-get >/dev/null; then
		echo "still missing: $(echo $need); trying apt-get install libegl1"
		timeout 60 $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 120 $SUDO apt-get install -y -qq libegl1 >/dev/null
	fi
	need=$(missing_libs)
	[ -n "$need" ] && echo "still missing: $(echo $need) (run --prepare on a build machine and carry .gpucheck)"
fi
# glvnd finds NVIDIA's EGL vendor in /usr/share/glvnd; some containers keep it elsewhere.
if [ -z "${__EGL_VENDOR_LIBRARY_FILENAMES:-}" ] && ! ls /usr/share/glvnd/egl_vendor.d/*nvidia* >/dev/null 2>&1; then
	for f in /usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json /etc/glvnd/egl_vendor.d/10_nvidia.json; do
		if [ -f "$f" ]; then
			export __EGL_VENDOR_LIBRARY_FILENAMES=$f
			echo "EGL vendor: $f"
			break
		fi
	done
fi

# Fixtures for the parity test and the stories260K bench case.
if [ -z "${FYNETUNE_FIXTURES:-}" ] && [ ! -d ../shared/fixtures ] && [ -d "$PREP/fixtures" ]; then
	export FYNETUNE_FIXTURES=$ROOT/$PREP/fixtures
fi
if [ -z "${FYNETUNE_GOLDEN:-}" ] && [ ! -d ../shared/golden ] && [ -d "$PREP/golden" ]; then
	export FYNETUNE_GOLDEN=$ROOT/$PREP/golden
fi

# The test binaries run in their package folders, as go test does.
step gl-tests 150 bash -c "set -o pipefail; cd compute/gl && ../../$PREP/gl.test -test.count=1 -test.v -test.run 'GL|AgainstCPU|Quant|Large|Pieces' | grep -v '^=== RUN'"
step lora-parity 150 bash -c "cd train && ../$PREP/train.test -test.count=1 -test.v -test.run 'GLParity'"
step shader-bench 120 bash -c "cd compute/gl && ../../$PREP/gl.test -test.run '^\$' -test.bench 'MatMul4096|Linear4096' -test.benchtime 10x"
step step-profile 120 bash -c "cd train && FYNETUNE_GL_PROFILE=1 ../$PREP/train.test -test.run '^\$' -test.bench 'GLStepGPT2' -test.benchtime 2x -test.v"

BENCH=(bench --case gpt2-124m --batch 8 --seq-len 512)
if [ -x "$PREP/fynetune" ]; then
	step bench-gpu 150 "$PREP/fynetune" "${BENCH[@]}" --backend gpu --steps 5 --warmup 1
	step bench-cpu 150 "$PREP/fynetune" "${BENCH[@]}" --backend cpu --steps 2 --warmup 1
else
	echo "=== bench: $PREP/fynetune is missing"
	FAILED+=(bench)
fi

echo
echo "=== done in $(($(date +%s) - T0))s"
if [ ${#FAILED[@]} -gt 0 ]; then
	echo "failed: ${FAILED[*]}"
	exit 1
fi
echo "all steps passed"
