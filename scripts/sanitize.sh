#!/usr/bin/env bash
# The async socket suites under AddressSanitizer and ThreadSanitizer, on both Linux backends:
# async_socket, close_regressions, hostile, futures (all features) and a short chaos run.
#
# Sanitizers need the nightly toolchain (`cargo +nightly`, `-Zsanitizer`), and ThreadSanitizer
# also an instrumented standard library (`-Zbuild-std`, from the nightly's `rust-src`). A machine
# without them says so and skips this step instead of failing: the sanitizers are an extra check
# on top of the suite, which has already run on stable.
#
# Each sanitizer builds once (into target/asan, target/tsan) and runs every binary on epoll and
# then on io_uring; every run is bounded by `timeout`.
#
# Environment: SANITIZERS (default "address thread"), CHAOS_SECS (default 5), JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
JOBS=${JOBS:-2}
CHAOS_SECS=${CHAOS_SECS:-5}
host=x86_64-unknown-linux-gnu

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "sanitize: SKIPPED: no nightly toolchain on this machine (cargo +nightly)"
  exit 0
fi
sysroot=$(rustc +nightly --print sysroot)
if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
  # The image's nightly should carry rust-src; if it does not, ask rustup once (bounded).
  timeout 120 rustup component add rust-src --toolchain nightly >/dev/null 2>&1 || true
fi
if [ ! -d "$sysroot/lib/rustlib/src/rust/library" ]; then
  echo "sanitize: SKIPPED: the nightly toolchain has no rust-src (needed by -Zbuild-std)"
  exit 0
fi
cargo +nightly --version

tests=(async_socket close_regressions hostile futures chaos)
status=0
for san in ${SANITIZERS:-address thread}; do
  dir="target/${san:0:1}san"
  flags="-Zsanitizer=$san -Cdebuginfo=1"
  build=(-j"$JOBS" --target "$host" -p asock --all-features --release)
  if [ "$san" = thread ]; then
    # ThreadSanitizer must see the standard library's own synchronisation.
    build+=(-Zbuild-std)
  fi
  targets=()
  for t in "${tests[@]}"; do targets+=(--test "$t"); done
  echo "== sanitize: build with -Zsanitizer=$san"
  out=$(RUSTFLAGS="$flags" RUSTDOCFLAGS="$flags" CARGO_TARGET_DIR="$dir" \
    cargo +nightly test "${build[@]}" --no-run "${targets[@]}" 2>&1) || {
    echo "$out"
    exit 1
  }
  for backend in epoll uring; do
    for t in "${tests[@]}"; do
      bin=$(echo "$out" | sed -n "s|.*Executable tests/$t\(/main\)\{0,1\}.rs (\(.*\))|\2|p")
      [ -n "$bin" ] || { echo "sanitize: no test binary for $t" >&2; exit 1; }
      log="$dir/$t-$backend.log"
      t0=$(date +%s)
      # halt_on_error: the first report fails the run (and names the two accesses).
      if ASOCK_BACKEND=$backend ASOCK_CHAOS_SECS=$CHAOS_SECS \
        ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 \
        TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        timeout 600 "$bin" --test-threads=2 >"$log" 2>&1; then
        echo "sanitize: $san $backend $t: $(grep -E '^test result' "$log" | tail -1) ($(( $(date +%s) - t0 )) s)"
      else
        status=1
        grep -E "^test result|ERROR: (Address|Thread)Sanitizer|WARNING: ThreadSanitizer|SUMMARY|FAILED|panicked" \
          "$log" | head -20 || true
        echo "sanitize: $san $backend $t FAILED (full log: $log)" >&2
      fi
    done
  done
done
echo "sanitize took $(( $(date +%s) - start )) s"
exit $status
