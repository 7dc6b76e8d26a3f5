#!/usr/bin/env bash
# Builds asock for Windows (x86_64-pc-windows-gnu) on this Debian machine and runs its tests
# under Wine:
#
# * Debian's Rust (rustc-web / cargo-web, whose rust-web-src ships the standard library's
#   source) builds the standard library for the target with -Zbuild-std (no prebuilt Windows
#   std exists here); the rustup toolchain is not used for this;
# * mingw-w64 links (linker and runner are set in .cargo/config.toml);
# * Wine 8 runs the test executables, in a Wine prefix of this script's own, into which a small
#   `bcryptprimitives.dll` is built: Wine 8 lacks it, and Rust's std imports its ProcessPrng.
#
# Installs what is missing (apt-get), checks that every seed requirement is named by a test
# (scripts/check-seed-ids.sh; a failure there fails the run at the end, after the tests), lints
# the Windows code with Debian's clippy, then runs, with the fault-injection layer on, the
# library's unit tests and the integration tests listed in WINDOWS_TESTS: the seed tests and
# the platform-neutral suites. (Suites that are Linux-specific by design, such as those that
# reach for file descriptors or notify_io, are not built for Windows; a suite made
# platform-neutral joins the list.) Then the C ABI's C tests (scripts/test-capi-windows.sh).
# Builds go to target/windows so that they never contend with the Linux build for its target
# directory.
#
# Environment: WINEPREFIX (default target/windows/wineprefix), JOBS (default 2), RUNS (default
# 1: how many times in a row the Rust test binaries run; every run must pass).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)
TARGET=x86_64-pc-windows-gnu
JOBS=${JOBS:-2}
RUNS=${RUNS:-1}

echo "== Windows: packages"
pkgs=(rustc-web cargo-web rust-web-src rust-web-clippy gcc-mingw-w64-x86-64 wine64)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
apt_done=$(date +%s)

# Debian's toolchain, explicitly (the rustup one on PATH has no Windows standard library).
export RUSTC=/usr/bin/rustc
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$root/target/windows"
export PATH="/usr/bin:$PATH"
CARGO=/usr/bin/cargo
[ -x "$CARGO" ] || { echo "Debian's cargo (cargo-web) is not at $CARGO" >&2; exit 1; }
"$CARGO" --version
"$RUSTC" --version
[ -d /usr/lib/rustlib/src/rust/library ] || { echo "rust-web-src is missing" >&2; exit 1; }

echo "== Windows: Wine prefix"
export WINEPREFIX="${WINEPREFIX:-$CARGO_TARGET_DIR/wineprefix}"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="   # no Mono / Gecko installer prompts
mkdir -p "$CARGO_TARGET_DIR/shim"
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  wineboot -i >/dev/null 2>&1 || true
  wineserver -w
fi
sys32="$WINEPREFIX/drive_c/windows/system32"
[ -d "$sys32" ] || { echo "the Wine prefix was not created at $WINEPREFIX" >&2; exit 1; }
shim="$CARGO_TARGET_DIR/shim/bcryptprimitives.dll"
if [ ! -f "$sys32/bcryptprimitives.dll" ]; then
  cat >"$CARGO_TARGET_DIR/shim/bcryptprimitives.c" <<'C'
/* Wine 8 has no bcryptprimitives.dll; Rust's standard library imports its ProcessPrng. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0)
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
C
  printf 'LIBRARY bcryptprimitives\nEXPORTS\nProcessPrng\n' >"$CARGO_TARGET_DIR/shim/bcryptprimitives.def"
  x86_64-w64-mingw32-gcc -shared -O2 -o "$shim" \
    "$CARGO_TARGET_DIR/shim/bcryptprimitives.c" "$CARGO_TARGET_DIR/shim/bcryptprimitives.def" -lbcrypt
  cp "$shim" "$sys32/bcryptprimitives.dll"
fi

echo "== Windows: seed requirement ids"
ids_ok=1
bash scripts/check-seed-ids.sh || ids_ok=0

build=(-j"$JOBS" -Zbuild-std --target "$TARGET" -p asock --features fault-injection)
WINDOWS_TESTS=(windows_seed transport async_socket)
targets=(--lib)
for t in "${WINDOWS_TESTS[@]}"; do targets+=(--test "$t"); done

echo "== Windows: clippy (Debian's)"
"$CARGO" clippy "${build[@]}" "${targets[@]}" -- -D warnings

echo "== Windows: tests under Wine ($RUNS run(s))"
log="$CARGO_TARGET_DIR/test-windows.log"
"$CARGO" test "${build[@]}" "${targets[@]}" --no-run
# One wineserver for all the test programs: one that starts and stops with each program may
# be going away just as the next one connects ("wine client error ... Connection reset").
# It is started with its helper services (services.exe and friends, which the first program
# would otherwise start with that program's output) on /dev/null, so that none holds the
# output pipe of a test run open.
start_wineserver() {
  wineserver -k 2>/dev/null || true
  wineserver -p </dev/null >/dev/null 2>&1
  wine cmd /c exit </dev/null >/dev/null 2>&1 || true
}
start_wineserver
trap 'wineserver -k 2>/dev/null || true' EXIT
for run in $(seq 1 "$RUNS"); do
  echo "-- run $run of $RUNS"
  if ! "$CARGO" test "${build[@]}" "${targets[@]}" 2>&1 | tee "$log"; then
    # A wineserver that went away under a test ("wine client error") says nothing about the
    # code under test: say so loudly and run the tests once more. Any other failure fails.
    if grep -q "wine client error" "$log"; then
      echo "!! the wineserver went away during run $run (see above); running it once more" >&2
      start_wineserver
      "$CARGO" test "${build[@]}" "${targets[@]}"
    else
      echo "!! run $run of $RUNS failed" >&2
      exit 1
    fi
  fi
done

echo "== Windows: C ABI (asock-capi) C tests under Wine"
bash scripts/test-capi-windows.sh

wineserver -k 2>/dev/null || true
end=$(date +%s)
echo "Windows part took $(( end - start )) s (packages $(( apt_done - start )) s)"
if [ "$ids_ok" != 1 ]; then
  echo "!! some seed requirements are named by no test (see scripts/check-seed-ids.sh above)" >&2
  exit 1
fi
