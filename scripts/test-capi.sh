#!/usr/bin/env bash
# The C ABI's tests, strictly (every tool present, C++ included) and with every C program run
# under
#   valgrind --error-exitcode=1 --leak-check=full
# (no leak, no invalid access; a deliberately leaking program must be caught):
# crates/asock-capi/tests/c_api.rs (the header/export agreement, abi_check, the C test programs
# built against the headers and libasock_capi.a / .so) and tests/c_headers.rs (the headers in
# every C and C++ mode, the open dispatch, macro_utils, the README's C example).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v valgrind >/dev/null 2>&1 || need+=(valgrind)
command -v c++ >/dev/null 2>&1 || need+=(g++)
command -v cc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

# Every tool is there now: a missing one is a failure, not a skip. (The plain run of these tests
# is part of the workspace's `cargo test`; this script adds the strict and valgrind runs.)
export ASOCK_CAPI_STRICT=1
# Under valgrind (3.19, which runs one thread at a time) an engine on io_uring stops: seen here,
# a test whose worker waited in io_uring_enter never went on. The valgrind runs therefore use
# the epoll backend; the sanitizers (scripts/sanitize.sh) cover io_uring.
export ASOCK_BACKEND=epoll
echo "== C ABI: C tests under valgrind"
ASOCK_CAPI_VALGRIND=1 cargo test -j2 -p asock-capi --test c_api --test c_headers
