#!/usr/bin/env bash
# test/shell/jsonformat_fuzz.sh — builds the libFuzzer target for the JSON
# Schema format parsers (test/fuzz/jsonformat_fuzz.c + src/json/jsonformat.c, no
# server needed) with ASan/UBSan and runs it for a fixed number of inputs from
# a fixed seed (PHOENIX_FUZZ_SEED, PHOENIX_LIBFUZZER_RUNS).  A crash, a
# sanitizer report or a failed property fails the test.  clang and its
# libFuzzer runtime are required (PHOENIX_PACKAGES in scripts/lib.sh installs
# them): a missing compiler fails the test rather than passing it unchecked.
set -euo pipefail
ROOT=${PHOENIX_ROOT:-$(cd "$(dirname "$0")/../.." && pwd)}
RUNS=${PHOENIX_LIBFUZZER_RUNS:-300000}
. "$ROOT/test/seed.sh"; phoenix_seed 20261127 >/dev/null; SEED=$PHOENIX_SEED_VALUE
CC=${FUZZ_CC:-clang}
echo "seed=$SEED runs=$RUNS"
if ! command -v "$CC" >/dev/null || ! echo 'int LLVMFuzzerTestOneInput(const char *d, long s){return 0;}' |
     "$CC" -x c -fsanitize=fuzzer - -o /dev/null 2>/dev/null; then
  echo "FAIL: $CC with libFuzzer is not available (install clang and libclang-rt-dev)"
  exit 1
fi
# Found by name: src/ is organised in folders, one per subsystem.
SRC=$(cd "$ROOT" && find src -name jsonformat.c | head -1)
[ -n "$SRC" ] || { echo "FAIL: no jsonformat.c under src/"; exit 1; }
WORK=$(mktemp -d /tmp/jsonformat-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
"$CC" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -Wno-ignored-attributes \
  -I"$ROOT/src" -I"$ROOT/$(dirname "$SRC")" -I"$(pg_config --includedir-server)" \
  "$ROOT/test/fuzz/jsonformat_fuzz.c" "$ROOT/$SRC" -o "$WORK/jsonformat_fuzz" >"$WORK/build.log" 2>&1 ||
  { cat "$WORK/build.log"; exit 1; }
cp -r "$ROOT/test/fuzz/corpus" "$WORK/corpus"
cd "$WORK"
if ! ./jsonformat_fuzz -runs="$RUNS" -seed="$SEED" -max_len=128 corpus >fuzz.log 2>&1; then
  tail -40 fuzz.log
  exit 1
fi
tail -3 fuzz.log
