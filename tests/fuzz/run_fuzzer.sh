#!/usr/bin/env bash
# Runs a libFuzzer target of tests/fuzz (docs/testing.md, "Fuzzing").
#   run_fuzzer.sh replay TARGET DIR...    each input of the DIRs once (the seed corpus and the
#                                         regressions): fails when one crashes
#   run_fuzzer.sh SECONDS TARGET DIR...   fuzzes for SECONDS, starting from the DIRs; new inputs go
#                                         to $FUZZ_WORK_DIR/corpus, a crashing input to
#                                         $FUZZ_WORK_DIR/artifacts/ (default: a directory beside
#                                         the target). Fails when an input crashes, leaks, times
#                                         out (10 s) or takes more than 2 GiB.
set -euo pipefail
mode=$1
target=$2
shift 2

if [ "$mode" = replay ]; then
  exec "$target" -runs=0 "$@"
fi

work=${FUZZ_WORK_DIR:-$(dirname "$target")/$(basename "$target")-work}
mkdir -p "$work/corpus" "$work/artifacts"
log="$work/last-run.log"
status=0
"$target" -max_total_time="$mode" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/artifacts/" "$work/corpus" "$@" > "$log" 2>&1 || status=$?
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
echo "$(basename "$target"): ${runs:-?} runs in ${mode} s, ${rate:-?} per second, corpus $(ls "$work/corpus" | wc -l) inputs"
if [ "$status" -ne 0 ]; then
  tail -n 60 "$log"
  echo "$(basename "$target"): crashed; the input is in $work/artifacts/ (docs/testing.md says how it becomes a regression)"
fi
exit "$status"
