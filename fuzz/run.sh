#!/usr/bin/env bash
# Runs the fuzz targets one after another, each for a time and/or a number of
# executions, and prints one summary line per target.
#
#   fuzz/run.sh [-t SECONDS] [-n RUNS] [--ci] [--cmin] [TARGET...]
#
#   -t SECONDS  time per target (default 60)
#   -n RUNS     stop a target after this many executions (default: no limit)
#   --ci        do not add new inputs to the committed corpora (they go to a
#               temporary directory); any crash, leak or timeout fails the run
#   --cmin      after fuzzing, minimise each target's corpus (cargo fuzz cmin,
#               a set cover of the edges)
#   TARGET...   default: every target (`cargo fuzz list`)
#
# Nightly is used when installed, else the stable toolchain with
# RUSTC_BOOTSTRAP=1. Builds run at low priority (nice) so they do not starve
# other work. Crashes land in fuzz/artifacts/<target>/; logs in fuzz/logs/.
# The campaigns' figures go in fuzz/RESULTS.md by hand.
set -euo pipefail
cd "$(dirname "$0")"

secs=60
runs=""
ci=false
cmin=false
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    -t) secs="$2"; shift 2 ;;
    -n) runs="$2"; shift 2 ;;
    --ci) ci=true; shift ;;
    --cmin) cmin=true; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  cargo=(cargo +nightly)
else
  export RUSTC_BOOTSTRAP=1
  cargo=(cargo)
fi
# The crates forbid unsafe code, so what a fuzzer finds there is a panic (or
# an arithmetic overflow: debug assertions are on); AddressSanitizer would
# only halve the speed. Coverage instrumentation stays.
fuzz=("${cargo[@]}" fuzz)
build_flags=(-s none)

[ ${#targets[@]} -gt 0 ] || mapfile -t targets < <("${fuzz[@]}" list)

max_len() {
  case "$1" in
    saml) echo 24576 ;;
    saml_signed) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

nice -n 15 "${fuzz[@]}" build "${build_flags[@]}"

mkdir -p logs
status=0
printf '%-15s %12s %7s %9s %7s %s\n' target execs secs exec/s corpus result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  dirs=("corpus/$t")
  if $ci; then
    tmp=$(mktemp -d)
    dirs=("$tmp" "corpus/$t")
  fi
  args=(-max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048
        -print_final_stats=1)
  [ -n "$runs" ] && args+=(-runs="$runs")
  log="logs/$t.log"
  start=$(date +%s)
  if nice -n 15 "${fuzz[@]}" run "${build_flags[@]}" "$t" "${dirs[@]}" -- "${args[@]}" >"$log" 2>&1; then
    result=ok
  else
    result="FAILED (see fuzz/$log, fuzz/artifacts/$t/)"
    status=1
  fi
  end=$(date +%s)
  execs=$(grep 'stat::number_of_executed_units:' "$log" | tail -n1 | awk '{print $2}')
  rate=$(grep 'stat::average_exec_per_sec:' "$log" | tail -n1 | awk '{print $2}')
  $ci && rm -rf "$tmp"
  if $cmin && [ "$result" = ok ]; then
    # Set cover over edges only (not hit counts): a few hundred files.
    nice -n 15 "${fuzz[@]}" cmin "${build_flags[@]}" "$t" "corpus/$t" -- -max_len="$(max_len "$t")" \
      -set_cover_merge=1 -use_counters=0 \
      >"logs/$t.cmin.log" 2>&1 || result="cmin failed (fuzz/logs/$t.cmin.log)"
  fi
  files=$(find "corpus/$t" -type f | wc -l)
  printf '%-15s %12s %7s %9s %7s %s\n' "$t" "${execs:-?}" "$((end - start))" "${rate:-?}" "$files" "$result"
done
exit "$status"
