#!/usr/bin/env bash
# The C ABI's tests (crates/asock-capi/tests/c_api.rs: header checks as C99 and C++, the
# header/export agreement check, and the C test programs built against the headers and
# libasock_capi.a), with every C program run under
#   valgrind --error-exitcode=1 --leak-check=full
# (no leak, no invalid access; a deliberately leaking program must be caught).
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
echo "== C ABI: C tests under valgrind"
ASOCK_CAPI_VALGRIND=1 cargo test -j2 -p asock-capi --test c_api
