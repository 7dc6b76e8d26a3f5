#!/usr/bin/env bash
# Every requirement of the Windows backend's seed (the SRS_ASYNC_SOCKET_WIN32_* ids listed in
# docs/windows.md) must be named in full by a test that proves it: a Rust test of
# crates/asock/tests/windows_seed/ or a C test of crates/asock-capi/tests/c/. Prints, for each
# id, the tests that name it, then the count, and fails when an id is named by none.
#
# A mention counts for the function it is in: in Rust the nearest `fn` above it (which must be
# a #[test]); in C the nearest function definition above it.
set -euo pipefail
cd "$(dirname "$0")/.."
doc=docs/windows.md
rust_dir=crates/asock/tests/windows_seed
c_dir=crates/asock-capi/tests/c

mapfile -t ids < <(grep -oE '^\| `SRS_ASYNC_SOCKET_WIN32_[0-9]{2}_[0-9]{3}`' "$doc" | tr -d '|` ' | sort -u)
if [ ${#ids[@]} -ne 91 ]; then
  echo "check-seed-ids: $doc lists ${#ids[@]} requirement ids, not the seed's 91" >&2
  exit 1
fi

# "id<TAB>where" for every full-id mention, attributed to the enclosing test function.
mentions() {
  for f in "$rust_dir"/*.rs; do
    awk -v file="$f" '
      /^[[:space:]]*#\[test\]/ { pending = 1; next }
      /^[[:space:]]*(pub[^ ]* )?(async )?(unsafe )?fn [A-Za-z0-9_]+/ {
        match($0, /fn [A-Za-z0-9_]+/); name = substr($0, RSTART + 3, RLENGTH - 3)
        is_test = pending; pending = 0
      }
      /^[[:space:]]*#\[/ { next }
      {
        line = $0
        while (match(line, /SRS_ASYNC_SOCKET_WIN32_[0-9][0-9]_[0-9][0-9][0-9]/)) {
          id = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
          if (name != "" && is_test) print id "\t" file "::" name
          else print id "\t" file ":" NR " (outside a #[test])"
        }
      }' "$f"
  done
  for f in "$c_dir"/*.c; do
    [ -e "$f" ] || continue
    awk -v file="$f" '
      /^[A-Za-z_][A-Za-z0-9_ \*]*[ \*]([A-Za-z_][A-Za-z0-9_]*)\([^;]*$/ {
        match($0, /[A-Za-z_][A-Za-z0-9_]*\(/); name = substr($0, RSTART, RLENGTH - 1)
      }
      {
        line = $0
        while (match(line, /SRS_ASYNC_SOCKET_WIN32_[0-9][0-9]_[0-9][0-9][0-9]/)) {
          id = substr(line, RSTART, RLENGTH); line = substr(line, RSTART + RLENGTH)
          print id "\t" file ":" (name == "" ? "(top level)" : name)
        }
      }' "$f"
  done
}

found=$(mentions | sort -u)
stray=$(printf '%s\n' "$found" | grep -F '(outside a #[test])' || true)
if [ -n "$stray" ]; then
  echo "check-seed-ids: ids named outside a test (name them in the test that proves them):" >&2
  printf '%s\n' "$stray" >&2
  exit 1
fi
missing=()
rust_only=0
c_only=0
both=0
for id in "${ids[@]}"; do
  where=$(printf '%s\n' "$found" | awk -F'\t' -v id="$id" '$1 == id { print $2 }')
  if [ -z "$where" ]; then
    missing+=("$id")
    echo "$id  -- no test names it"
    continue
  fi
  in_rust=$(printf '%s\n' "$where" | grep -c "^$rust_dir/" || true)
  in_c=$(printf '%s\n' "$where" | grep -c "^$c_dir/" || true)
  if [ "$in_rust" -gt 0 ] && [ "$in_c" -gt 0 ]; then both=$((both + 1));
  elif [ "$in_rust" -gt 0 ]; then rust_only=$((rust_only + 1));
  else c_only=$((c_only + 1)); fi
  echo "$id"
  printf '%s\n' "$where" | sed -e "s#^$rust_dir/#    rust: #" -e "s#^$c_dir/#    c:    #"
done
covered=$(( ${#ids[@]} - ${#missing[@]} ))
echo "seed requirements named in full by a test: ${covered}/${#ids[@]}" \
  "(Rust only ${rust_only}, C only ${c_only}, both ${both})"
if [ ${#missing[@]} -gt 0 ]; then
  printf 'missing: %s\n' "${missing[@]}" >&2
  exit 1
fi
