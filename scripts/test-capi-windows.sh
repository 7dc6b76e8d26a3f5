#!/usr/bin/env bash
# The C ABI (crates/asock-capi) on Windows: builds its static library and DLL for
# x86_64-pc-windows-gnu with Debian's toolchain, checks the headers with mingw, compiles the C
# programs of crates/asock-capi/tests/c with x86_64-w64-mingw32-gcc against include/c_pal and
# the Windows library, and runs them under Wine:
#
# * the headers, alone, twice and together, and tests/c/uses_headers.c (both open forms, the enum
#   names) compile without a diagnostic as -std=gnu11 -Wall -Wextra -Werror, -std=c99 / c11
#   -pedantic and C++11 / C++17 (x86_64-w64-mingw32-g++); tests/c/open_with.c compiles for a
#   SOCKET_TRANSPORT_HANDLE or a SOCKET_HANDLE and fails to compile for any other type (a raw
#   SOCKET, an int, a pointer to another type) in C11, GNU C99 and C++;
# * the functions the headers declare (as mingw's preprocessor sees them) are exactly the DLL's
#   exports (objdump -p);
# * abi_check.c, linked statically and against the DLL: the two must print the same enum values
#   and layouts, and check every declared function (40, with execution_engine_win32_get_threadpool
#   in place of execution_engine_linux_get_parameters);
# * the test programs of WINDOWS_PROGRAMS, linked statically; test_cpal_style.c and
#   test_seed_style.c also against the DLL and in the other ways of selecting the open entry
#   point (GNU C99, -DASOCK_OPEN_WITH_SOCKET_HANDLE). Each must exit 0 and print its
#   "N passed, 0 failed" line. Their Windows differences are #ifdef _WIN32 in the sources.
#
# Not run on Windows (see EXCLUDED): test_custom_transport.c, as async_socket_create_with_transport
# returns NULL there (SRS_ASYNC_SOCKET_WIN32_04_001; test_invalid_args.c asserts that instead).
# leak_canary.c belongs to the valgrind run of scripts/test-capi.sh (Linux).
#
# Meant to be called by scripts/test-windows.sh, which sets up the toolchain environment (RUSTC,
# RUSTC_BOOTSTRAP, CARGO_TARGET_DIR, PATH) and the Wine prefix (WINEPREFIX, WINEDEBUG,
# WINEDLLOVERRIDES); run alone, it sets the same defaults (the Wine prefix must already exist:
# run scripts/test-windows.sh once). Installs mingw's C++ compiler if it is missing.
# Environment: JOBS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
start=$(date +%s)
TARGET=x86_64-pc-windows-gnu
JOBS=${JOBS:-2}

export RUSTC=${RUSTC:-/usr/bin/rustc}
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target/windows}
export PATH="/usr/bin:$PATH"
export WINEPREFIX="${WINEPREFIX:-$CARGO_TARGET_DIR/wineprefix}"
export WINEDEBUG=${WINEDEBUG:--all}
export WINEDLLOVERRIDES=${WINEDLLOVERRIDES:-"mscoree,mshtml="}
[ -f "$WINEPREFIX/system.reg" ] || { echo "no Wine prefix at $WINEPREFIX: run scripts/test-windows.sh" >&2; exit 1; }
CARGO=/usr/bin/cargo
CC=x86_64-w64-mingw32-gcc
CXX=x86_64-w64-mingw32-g++
OBJDUMP=x86_64-w64-mingw32-objdump
if ! command -v "$CXX" >/dev/null 2>&1; then
  echo "installing: g++-mingw-w64-x86-64"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq g++-mingw-w64-x86-64 >/dev/null
fi

WINDOWS_PROGRAMS=(test_engine test_transport test_async_socket test_invalid_args test_enums test_cpal_style test_seed_style)
EXCLUDED=(test_custom_transport) # async_socket_create_with_transport is NULL on Windows (04_001)
EXPORTED_FUNCTIONS=40

# Every tests/c/test_*.c is either run or excluded with its reason above.
for f in crates/asock-capi/tests/c/test_*.c; do
  name=$(basename "$f" .c)
  case " ${WINDOWS_PROGRAMS[*]} ${EXCLUDED[*]} " in
    *" $name "*) ;;
    *) echo "$f is neither in WINDOWS_PROGRAMS nor in EXCLUDED" >&2; exit 1 ;;
  esac
done

inc=crates/asock-capi/include
src=crates/asock-capi/tests/c
out="$CARGO_TARGET_DIR/capi-c"
mkdir -p "$out"
headers=(c_pal/socket_handle.h c_pal/platform.h c_pal/execution_engine.h c_pal/execution_engine_linux.h
  c_pal/execution_engine_win32.h c_pal/socket_transport.h c_pal/async_socket.h)

# Compiles the source on stdin with "$@" (compiler first) into nothing; fails on any diagnostic.
compile_clean() {
  local log="$out/compile.log"
  if ! "$@" -I "$inc" -I "$src" -c -o /dev/null - 2>"$log" || [ -s "$log" ]; then
    echo "header check failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

echo "== Windows C ABI: headers with mingw (C and C++)"
c_modes=("-std=gnu11 -Wall -Wextra -Werror" "-std=c99 -Wall -Wextra -Werror -pedantic"
  "-std=c11 -Wall -Wextra -Werror -pedantic")
cxx_modes=("-std=c++11 -Wall -Wextra -Werror -pedantic" "-std=c++17 -Wall -Wextra -Werror -pedantic")
all_headers=$(printf '#include "%s"\n' "${headers[@]}")
checks=0
for lang in c c++; do
  if [ "$lang" = c ]; then compiler=$CC; modes=("${c_modes[@]}"); else compiler=$CXX; modes=("${cxx_modes[@]}"); fi
  for mode in "${modes[@]}"; do
    read -ra flags <<<"$mode"
    for h in "${headers[@]}"; do
      printf '#include "%s"\n#include "%s"\nint main(void) { return 0; }\n' "$h" "$h" | compile_clean "$compiler" -x "$lang" "${flags[@]}"
      checks=$((checks + 1))
    done
    echo "$all_headers" | compile_clean "$compiler" -x "$lang" "${flags[@]}"
    compile_clean "$compiler" -x "$lang" "${flags[@]}" <"$src/uses_headers.c"
    { echo '#include "cpal_macro_utils.h"'; echo "$all_headers"; cat "$src/uses_headers.c"; } | compile_clean "$compiler" -x "$lang" "${flags[@]}"
    checks=$((checks + 3))
  done
done

# The open dispatch: right types compile, wrong ones fail saying why.
open_with() { # LANG STD WHY TYPE...: each TYPE must fail, saying WHY
  local lang=$1 std=$2 why=$3 compiler=$CC
  shift 3
  [ "$lang" = c++ ] && compiler=$CXX
  for ty in SOCKET_TRANSPORT_HANDLE SOCKET_HANDLE "const SOCKET_HANDLE"; do
    compile_clean "$compiler" -x "$lang" "$std" -Wall -Wextra -Werror "-DARG_TYPE=$ty" <"$src/open_with.c"
    checks=$((checks + 1))
  done
  for ty in "$@"; do
    if "$compiler" -x "$lang" "$std" -Wall -Wextra -Werror "-DARG_TYPE=$ty" -I "$inc" -c -o /dev/null - \
      <"$src/open_with.c" 2>"$out/compile.log"; then
      echo "open with a $ty compiled ($compiler $std)" >&2
      exit 1
    fi
    grep -q -- "$why" "$out/compile.log" || { echo "open with a $ty failed without saying \"$why\" ($compiler $std):" >&2; cat "$out/compile.log" >&2; exit 1; }
    checks=$((checks + 1))
  done
}
wrong=(SOCKET int "unsigned long long" long "char*" "const void*" "SOCKET_TRANSPORT_HANDLE*" ASYNC_SOCKET_HANDLE)
open_with c -std=c11 "_Generic" "${wrong[@]}"
open_with c -std=gnu99 "async_socket_open_async needs a SOCKET_TRANSPORT_HANDLE or a SOCKET_HANDLE" "${wrong[@]}"
open_with c++ -std=c++17 "deleted" "${wrong[@]}"
echo "headers: ok ($checks checks)"

echo "== Windows C ABI: clippy and build (static library and DLL)"
build=(-j"$JOBS" -Zbuild-std --target "$TARGET" -p asock-capi)
"$CARGO" clippy "${build[@]}" --all-targets --no-deps -- -D warnings  # asock itself: scripts/test-windows.sh
"$CARGO" build "${build[@]}"
lib_dir="$CARGO_TARGET_DIR/$TARGET/debug"
for f in libasock_capi.a asock_capi.dll libasock_capi.dll.a; do
  [ -f "$lib_dir/$f" ] || { echo "$lib_dir/$f was not built" >&2; exit 1; }
done
cp "$lib_dir/asock_capi.dll" "$out/"

echo "== Windows C ABI: header declarations = DLL exports"
prefixes='(async_socket_|socket_transport_|execution_engine_|platform_|MU_)'
echo "$all_headers" | "$CC" -std=c11 -E -P -x c -I "$inc" - \
  | grep -oE "\\b${prefixes}[A-Za-z0-9_]*[[:space:]]*\\(" | tr -d '( \t' | sort -u >"$out/declared.txt"
"$OBJDUMP" -p "$lib_dir/asock_capi.dll" \
  | sed -n '/\[Ordinal\/Name Pointer\] Table/,/^$/p' \
  | grep -oE "\\] ${prefixes}[A-Za-z0-9_]*" | sed 's/^\] //' | sort -u >"$out/exported.txt"
if ! diff "$out/declared.txt" "$out/exported.txt" >"$out/exports.diff"; then
  echo "header declarations (<) and DLL exports (>) differ:" >&2
  cat "$out/exports.diff" >&2
  exit 1
fi
n=$(wc -l <"$out/declared.txt")
[ "$n" -eq "$EXPORTED_FUNCTIONS" ] || { echo "$n functions declared and exported, expected $EXPORTED_FUNCTIONS" >&2; cat "$out/declared.txt" >&2; exit 1; }
echo "exports: ok ($n functions, as declared)"

# What the Rust standard library needs when linking the static library
# (`rustc --print native-static-libs`), and Winsock for the tests' own raw sockets.
NATIVE_LIBS=(-lws2_32 -lkernel32 -lntdll -luserenv -ldbghelp -lbcrypt -liphlpapi)
static_link=("$lib_dir/libasock_capi.a" "${NATIVE_LIBS[@]}" -static -pthread)
# The import library by path, so that -static (winpthread, libgcc) does not pick libasock_capi.a.
dll_link=("$lib_dir/libasock_capi.dll.a" -lws2_32 -static -pthread)

echo "== Windows C ABI: abi_check (static and DLL)"
"$CC" -std=c99 -Wall -Wextra -Werror -pedantic -I "$inc" "$src/abi_check.c" \
  "$lib_dir/libasock_capi.a" "${NATIVE_LIBS[@]}" -o "$out/abi_check.exe"
"$CC" -std=c99 -Wall -Wextra -Werror -pedantic -I "$inc" "$src/abi_check.c" \
  -L"$lib_dir" -lasock_capi -o "$out/abi_check_dll.exe"
wine "$out/abi_check.exe" >"$out/abi_static.txt"
wine "$out/abi_check_dll.exe" >"$out/abi_dll.txt"
tr -d '\r' <"$out/abi_static.txt" >"$out/abi_static.lf"
tr -d '\r' <"$out/abi_dll.txt" >"$out/abi_dll.lf"
cmp -s "$out/abi_static.lf" "$out/abi_dll.lf" || { echo "abi_check: static and DLL differ" >&2; diff "$out/abi_static.lf" "$out/abi_dll.lf" >&2; exit 1; }
grep -qx "functions $EXPORTED_FUNCTIONS" "$out/abi_static.lf" || { echo "abi_check does not check $EXPORTED_FUNCTIONS functions" >&2; cat "$out/abi_static.lf" >&2; exit 1; }
grep -qx "INVALID_SOCKET -1" "$out/abi_static.lf" || { echo "INVALID_SOCKET is not ~0" >&2; exit 1; }
grep -qx "sizeof(SOCKET_HANDLE) 8" "$out/abi_static.lf" || { echo "SOCKET_HANDLE is not pointer-sized" >&2; exit 1; }
echo "abi_check: ok (static and DLL agree, $EXPORTED_FUNCTIONS functions)"

echo "== Windows C ABI: C test programs under Wine"
total=0
runs=0
# run_c NAME VARIANT COMPILE-FLAGS... -- LINK-FLAGS...
run_c() {
  local name=$1 variant=$2
  shift 2
  local cflags=() lflags=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do cflags+=("$1"); shift; done
  shift
  lflags=("$@")
  local exe="$out/$name-$variant.exe" log="$out/$name-$variant.log"
  "$CC" -Wall -Wextra -Werror -g -O1 "${cflags[@]}" -I "$inc" "$src/$name.c" "${lflags[@]}" -o "$exe"
  case $variant in
    *dll*) "$OBJDUMP" -p "$exe" >"$out/imports.txt"
      grep -q "DLL Name: asock_capi.dll" "$out/imports.txt" || { echo "$exe does not use asock_capi.dll" >&2; exit 1; } ;;
  esac
  if ! timeout 300 wine "$exe" >"$log" 2>&1; then
    tr -d '\r' <"$log"
    echo "$name ($variant) failed under Wine" >&2
    exit 1
  fi
  tr -d '\r' <"$log"
  local line
  line=$(tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, 0 failed$' || true)
  [ -n "$line" ] || { echo "$name ($variant) printed no summary line" >&2; exit 1; }
  total=$((total + ${line%% *}))
  runs=$((runs + 1))
}
for name in "${WINDOWS_PROGRAMS[@]}"; do
  run_c "$name" c11 -std=c11 -- "${static_link[@]}"
done
run_c test_cpal_style gnu11 -std=gnu11 -- "${static_link[@]}"
run_c test_cpal_style gnu11-dll -std=gnu11 -- "${dll_link[@]}"
run_c test_cpal_style gnu99 -std=gnu99 -- "${static_link[@]}"
run_c test_cpal_style define -std=c11 -DASOCK_OPEN_WITH_SOCKET_HANDLE -- "${static_link[@]}"
run_c test_seed_style c11-dll -std=c11 -- "${dll_link[@]}"
run_c test_seed_style gnu99 -std=gnu99 -- "${static_link[@]}"

end=$(date +%s)
echo "Windows C ABI: $runs runs of ${#WINDOWS_PROGRAMS[@]} programs, $total C tests passed under Wine; $checks header checks; excluded: ${EXCLUDED[*]}; took $(( end - start )) s"
