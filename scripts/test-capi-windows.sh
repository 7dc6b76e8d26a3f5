#!/usr/bin/env bash
# The C ABI (crates/asock-capi) on Windows: builds its static library and DLL for
# x86_64-pc-windows-gnu with Debian's toolchain, compiles the C programs of
# crates/asock-capi/tests/c with x86_64-w64-mingw32-gcc against include/c_pal and the Windows
# library, and runs them under Wine:
#
# * abi_check.c, linked statically and against the DLL: the two must print the same enum values
#   and layouts, and check every declared function (28, with execution_engine_win32_get_threadpool
#   in place of execution_engine_linux_get_parameters);
# * the test programs of WINDOWS_PROGRAMS, linked statically; each must exit 0 and print its
#   "N passed, 0 failed" line. Their Windows differences are #ifdef _WIN32 in the sources.
#
# Not run on Windows (see EXCLUDED): test_custom_transport.c, as async_socket_create_with_transport
# returns NULL there (SRS_ASYNC_SOCKET_WIN32_04_001; test_invalid_args.c asserts that instead).
# leak_canary.c belongs to the valgrind run of scripts/test-capi.sh (Linux).
#
# Meant to be called by scripts/test-windows.sh, which sets up the toolchain environment (RUSTC,
# RUSTC_BOOTSTRAP, CARGO_TARGET_DIR, PATH) and the Wine prefix (WINEPREFIX, WINEDEBUG,
# WINEDLLOVERRIDES); run alone, it sets the same defaults (the Wine prefix must already exist:
# run scripts/test-windows.sh once). Environment: JOBS (default 2).
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

WINDOWS_PROGRAMS=(test_engine test_transport test_async_socket test_invalid_args)
EXCLUDED=(test_custom_transport) # async_socket_create_with_transport is NULL on Windows (04_001)

# Every tests/c/test_*.c is either run or excluded with its reason above.
for f in crates/asock-capi/tests/c/test_*.c; do
  name=$(basename "$f" .c)
  case " ${WINDOWS_PROGRAMS[*]} ${EXCLUDED[*]} " in
    *" $name "*) ;;
    *) echo "$f is neither in WINDOWS_PROGRAMS nor in EXCLUDED" >&2; exit 1 ;;
  esac
done

echo "== Windows C ABI: clippy and build (static library and DLL)"
build=(-j"$JOBS" -Zbuild-std --target "$TARGET" -p asock-capi)
"$CARGO" clippy "${build[@]}" --all-targets -- -D warnings
"$CARGO" build "${build[@]}"
lib_dir="$CARGO_TARGET_DIR/$TARGET/debug"
for f in libasock_capi.a asock_capi.dll libasock_capi.dll.a; do
  [ -f "$lib_dir/$f" ] || { echo "$lib_dir/$f was not built" >&2; exit 1; }
done

# What the Rust standard library needs when linking the static library
# (`rustc --print native-static-libs`), and Winsock for the tests' own raw sockets.
NATIVE_LIBS=(-lws2_32 -lkernel32 -lntdll -luserenv -ldbghelp -lbcrypt -liphlpapi)
inc=crates/asock-capi/include
src=crates/asock-capi/tests/c
out="$CARGO_TARGET_DIR/capi-c"
mkdir -p "$out"

echo "== Windows C ABI: abi_check (static and DLL)"
"$CC" -std=c99 -Wall -Wextra -Werror -pedantic -I "$inc" "$src/abi_check.c" \
  "$lib_dir/libasock_capi.a" "${NATIVE_LIBS[@]}" -o "$out/abi_check.exe"
"$CC" -std=c99 -Wall -Wextra -Werror -pedantic -I "$inc" "$src/abi_check.c" \
  -L"$lib_dir" -lasock_capi -o "$out/abi_check_dll.exe"
cp "$lib_dir/asock_capi.dll" "$out/"
wine "$out/abi_check.exe" >"$out/abi_static.txt"
wine "$out/abi_check_dll.exe" >"$out/abi_dll.txt"
tr -d '\r' <"$out/abi_static.txt" >"$out/abi_static.lf"
tr -d '\r' <"$out/abi_dll.txt" >"$out/abi_dll.lf"
cmp -s "$out/abi_static.lf" "$out/abi_dll.lf" || { echo "abi_check: static and DLL differ" >&2; diff "$out/abi_static.lf" "$out/abi_dll.lf" >&2; exit 1; }
grep -qx "functions 28" "$out/abi_static.lf" || { echo "abi_check does not check 28 functions" >&2; cat "$out/abi_static.lf" >&2; exit 1; }
grep -qx "INVALID_SOCKET -1" "$out/abi_static.lf" || { echo "INVALID_SOCKET is not ~0" >&2; exit 1; }
grep -qx "sizeof(SOCKET_HANDLE) 8" "$out/abi_static.lf" || { echo "SOCKET_HANDLE is not pointer-sized" >&2; exit 1; }
echo "abi_check: ok (static and DLL agree, 28 functions)"

echo "== Windows C ABI: C test programs under Wine"
total=0
for name in "${WINDOWS_PROGRAMS[@]}"; do
  "$CC" -std=c11 -Wall -Wextra -Werror -g -O1 -I "$inc" "$src/$name.c" \
    "$lib_dir/libasock_capi.a" "${NATIVE_LIBS[@]}" -static -pthread -o "$out/$name.exe"
  log="$out/$name.log"
  if ! timeout 300 wine "$out/$name.exe" >"$log" 2>&1; then
    tr -d '\r' <"$log"
    echo "$name failed under Wine" >&2
    exit 1
  fi
  tr -d '\r' <"$log"
  line=$(tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, 0 failed$' || true)
  [ -n "$line" ] || { echo "$name printed no summary line" >&2; exit 1; }
  total=$(( total + ${line%% *} ))
done

end=$(date +%s)
echo "Windows C ABI: ${#WINDOWS_PROGRAMS[@]} programs, $total C tests passed under Wine; excluded: ${EXCLUDED[*]}; took $(( end - start )) s"
