#!/usr/bin/env bash
# Every SRS_ASYNC_SOCKET_WIN32_* requirement of the seed must be named by a Windows test (in a
# test's name, e.g. `..._01_063`, or in a comment next to its assertion). Prints the coverage and
# fails when an id is missing.
#
# The seed is read from ../shared/seed/ beside the repository (override with SEED=path).
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${SEED:-../shared/seed/async_socket_win32_requirements.md}"
tests=(crates/asock/tests/windows_seed.rs)
if [ ! -f "$seed" ]; then
  echo "check-seed-ids: seed not found at $seed (set SEED=...)" >&2
  exit 1
fi
mapfile -t ids < <(grep -o 'SRS_ASYNC_SOCKET_WIN32_[0-9][0-9]_[0-9][0-9][0-9]' "$seed" | sort -u)
if [ ${#ids[@]} -eq 0 ]; then
  echo "check-seed-ids: no requirement id found in $seed" >&2
  exit 1
fi
missing=()
for id in "${ids[@]}"; do
  short=${id#SRS_ASYNC_SOCKET_WIN32_}
  if ! grep -Eq "(^|[^0-9])${short}([^0-9]|$)" "${tests[@]}"; then
    missing+=("$id")
  fi
done
covered=$(( ${#ids[@]} - ${#missing[@]} ))
echo "seed requirements named by Windows tests: ${covered}/${#ids[@]}"
if [ ${#missing[@]} -gt 0 ]; then
  printf 'missing: %s\n' "${missing[@]}" >&2
  exit 1
fi
