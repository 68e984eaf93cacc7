#!/usr/bin/env bash
# Build fastpot._core with AddressSanitizer + UndefinedBehaviorSanitizer, then run the kernel
# tests and the kernel fuzzer (tools/fuzz_kernels.py) against that build.
#
#   tools/sanitize.sh                  # build, tests, fuzz (FUZZ_SECONDS, default 120)
#   PYTHON=/path/to/venv/bin/python tools/sanitize.sh
#   SANITIZE_STEPS="build fuzz" FUZZ_SECONDS=30 tools/sanitize.sh
#
# The build goes through `pip wheel` (the project's own scikit-build-core build, isolated, so
# pybind11 need not be installed) into its own build directory, build/sanitize/, and never
# touches the release extension in python/fastpot/. A staging package, build/sanitize/pkg/
# fastpot, links every file of python/fastpot except the compiled modules and holds the
# sanitized _core instead; it is put first on PYTHONPATH. fastpot._dispatch (OpenVINO's
# dispatcher) is not built: the kernel tests do not use it.
#
# Every sanitizer report is fatal (-fno-sanitize-recover, halt_on_error) and is also written
# to build/sanitize/logs/, which catches reports from subprocesses the tests spawn: the
# script exits non-zero if a step fails or any report was written.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
OUT=${SANITIZE_DIR:-$ROOT/build/sanitize}
STEPS=${SANITIZE_STEPS:-build test fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-120}
FUZZ_SEED=${FUZZ_SEED:-0}
JOBS=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)}

SAN="-fsanitize=address,undefined -fsanitize=float-cast-overflow -fno-sanitize-recover=all"
CXXFLAGS_SAN="$SAN -fno-omit-frame-pointer -g"
LDFLAGS_SAN="-fsanitize=address,undefined"

step() { [[ " $STEPS " == *" $1 "* ]]; }
now() { date +%s; }
T0=$(now)

PKG=$OUT/pkg
LOGS=$OUT/logs

if step build; then
  echo "== sanitize: building fastpot._core (RelWithDebInfo, ASan + UBSan) in $OUT"
  rm -rf "$OUT/wheel" "$OUT/unpacked"
  CMAKE_BUILD_PARALLEL_LEVEL=$JOBS "$PYTHON" -m pip wheel "$ROOT" --no-deps -q -w "$OUT/wheel" \
    -C build-dir="$OUT/cmake" \
    -C cmake.build-type=RelWithDebInfo \
    -C cmake.define.CMAKE_CXX_FLAGS="$CXXFLAGS_SAN" \
    -C cmake.define.CMAKE_MODULE_LINKER_FLAGS="$LDFLAGS_SAN" \
    -C cmake.define.CMAKE_SHARED_LINKER_FLAGS="$LDFLAGS_SAN" \
    -C cmake.define.FASTPOT_BUILD_DISPATCH=OFF \
    -C cmake.define.FASTPOT_WERROR=ON
  wheel=$(ls "$OUT"/wheel/fastpot-*.whl)
  "$PYTHON" -m zipfile -e "$wheel" "$OUT/unpacked"
  rm -rf "$PKG"
  mkdir -p "$PKG/fastpot"
  for entry in "$ROOT"/python/fastpot/* "$ROOT"/python/fastpot/.[!.]*; do
    [[ -e "$entry" ]] || continue
    name=$(basename "$entry")
    case "$name" in _core*.so | _dispatch*.so | __pycache__) continue ;; esac
    ln -s "$entry" "$PKG/fastpot/$name"
  done
  cp "$OUT"/unpacked/fastpot/_core*.so "$PKG/fastpot/"
  echo "== sanitize: build took $(($(now) - T0)) s"
fi

if [[ ! -d "$PKG/fastpot" ]]; then
  echo "sanitize: no sanitized build in $PKG (run with SANITIZE_STEPS containing 'build')" >&2
  exit 2
fi

LIBASAN=$(gcc -print-file-name=libasan.so)
# libstdc++ is preloaded too: python itself does not link it, and ASan's __cxa_throw
# interceptor must find it when it starts ("CHECK failed: ... real___cxa_throw" otherwise,
# on the first C++ exception).
LIBSTDCXX=$(gcc -print-file-name=libstdc++.so)
for lib in "$LIBASAN" "$LIBSTDCXX"; do
  if [[ ! -e "$lib" ]]; then
    echo "sanitize: $lib not found (gcc -print-file-name)" >&2
    exit 2
  fi
done
rm -rf "$LOGS"
mkdir -p "$LOGS"

# Only the commands below run sanitized: pip and the build above must not.
run_sanitized() {
  env LD_PRELOAD="$LIBASAN $LIBSTDCXX" \
    ASAN_OPTIONS="detect_leaks=0:log_path=$LOGS/asan:log_exe_name=1" \
    UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$LOGS/ubsan:log_exe_name=1" \
    PYTHONPATH="$PKG${PYTHONPATH:+:$PYTHONPATH}" \
    FASTPOT_BACKEND= \
    "$@"
}

status=0
cd "$ROOT"
core=$(run_sanitized "$PYTHON" -c "import fastpot._core as c; print(c.__file__)")
if [[ "$core" != "$PKG"/fastpot/* ]]; then
  echo "sanitize: fastpot._core was loaded from $core, not from the sanitized build" >&2
  exit 2
fi
echo "== sanitize: using $core"

if step test; then
  t=$(now)
  echo "== sanitize: kernel tests"
  run_sanitized "$PYTHON" -m pytest tests/kernels tests/test_backend_fallback.py -q \
    -p no:cacheprovider -x || status=1
  echo "== sanitize: kernel tests took $(($(now) - t)) s"
fi

if step fuzz; then
  t=$(now)
  echo "== sanitize: fuzzing fastpot._core for ${FUZZ_SECONDS} s (seed $FUZZ_SEED)"
  run_sanitized "$PYTHON" tools/fuzz_kernels.py --seconds "$FUZZ_SECONDS" --seed "$FUZZ_SEED" ||
    status=1
  echo "== sanitize: fuzz took $(($(now) - t)) s"
fi

if compgen -G "$LOGS/*" >/dev/null; then
  echo "== sanitize: sanitizer reports:" >&2
  for f in "$LOGS"/*; do
    echo "---- $f" >&2
    cat "$f" >&2
  done
  status=1
fi
echo "== sanitize: $([[ $status == 0 ]] && echo clean || echo FAILED) after $(($(now) - T0)) s"
exit $status
