#!/usr/bin/env bash
# Runs one fuzz harness of test/fuzz with libFuzzer.
#   scripts/fuzz.sh list                 the harnesses' names
#   scripts/fuzz.sh NAME SECONDS [ARGS]  fuzz NAME for SECONDS (ARGS go to
#                                        libFuzzer, e.g. -runs=10000000)
# Builds build-fuzz (clang, RS1_FUZZ=ON: coverage, ASan, UBSan) when needed.
# Starts from the committed corpus (test/fuzz/corpus/NAME) and its
# dictionary, writes new inputs to build-fuzz/corpus/NAME only, and a crash
# to build-fuzz/artifacts/NAME/. RS1_FUZZ_SAVE=1 afterwards merges what
# adds coverage into the committed corpus. Prints the executions count.
set -euo pipefail
cd "$(dirname "$0")/.."
names() { sed -n 's/^\([a-z_]*\)_fuzz\.cpp$/\1/p' < <(ls test/fuzz); }
if [ "${1:-}" = list ]; then
  names
  exit 0
fi
if [ $# -lt 2 ] || ! names | grep -qx "$1" || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh list | NAME SECONDS [libFuzzer args]" >&2
  exit 2
fi
name=$1 seconds=$2
shift 2
. scripts/deps.sh
rs1_apt_install clang libclang-rt-14-dev
dir=build-fuzz
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=1
if [ ! -f "$dir/CMakeCache.txt" ]; then
  launcher=()
  command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
  CC=clang CXX=clang++ rs1_configure "$dir" -DRS1_FUZZ=ON -DRS1_BUILD_TESTS=OFF \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo "${launcher[@]}"
fi
cmake --build "$dir" -j"${RS1_FUZZ_JOBS:-2}" --target "${name}_fuzz" >/dev/null
scratch=$dir/corpus/$name
artifacts=$dir/artifacts/$name
mkdir -p "$scratch" "$artifacts"
args=(-max_total_time="$seconds" -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/")
[ -f "test/fuzz/dict/$name.dict" ] && args+=(-dict="test/fuzz/dict/$name.dict")
log=$dir/fuzz-$name.log
set +e
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$dir/test/fuzz/${name}_fuzz" "${args[@]}" "$@" "$scratch" "test/fuzz/corpus/$name" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
echo "$name: ${runs:-?} executions, ${secs:-?} exec/s, scratch corpus $(ls "$scratch" | wc -l) files, exit $status"
if [ "$status" -eq 0 ] && [ "${RS1_FUZZ_SAVE:-0}" = 1 ]; then
  "$dir/test/fuzz/${name}_fuzz" -merge=1 "test/fuzz/corpus/$name" "$scratch" 2>/dev/null
  echo "$name: committed corpus now $(ls "test/fuzz/corpus/$name" | wc -l) files"
fi
exit "$status"
