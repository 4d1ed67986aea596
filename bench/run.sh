#!/usr/bin/env bash
# bench/run.sh BUILD_DIR [extra log_bench flags]: runs log_bench (median of 3 repetitions) and prints
# the ratios the quality bars (docs/architecture.md) judge the event log by, then the growth, broker
# load and inbox benchmarks; ends with the broker's ratios against its equal-work peers in one table
# with the machine (CPUs, model, memory) and the date. Called by `make bench`.
#
# Files go under $PASSAGE_BENCH_DIR (default /tmp); the JSON results to $PASSAGE_BENCH_JSON (default
# BUILD_DIR/bench/log_bench.json).
set -euo pipefail

build_dir="${1:-build}"
shift || true
bin="$build_dir/bench/log_bench"
if [[ ! -x "$bin" ]]; then
  echo "bench/run.sh: $bin is not built (run make build)" >&2
  exit 1
fi
json="${PASSAGE_BENCH_JSON:-$build_dir/bench/log_bench.json}"
load_before="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
# The machine and the date, for the README's Performance table.
cpu_model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n1)"
machine="$(nproc 2>/dev/null || echo '?') CPUs (${cpu_model:-model unknown}), $(free -g 2>/dev/null | awk '/^Mem:/ {print $2 " GiB"}')"
run_date="$(date -u '+%Y-%m-%d %H:%M UTC')"
echo "== make bench: $run_date on $machine, load average $load_before =="

"$bin" --benchmark_repetitions=3 --benchmark_report_aggregates_only=true \
  --benchmark_enable_random_interleaving=true \
  --benchmark_out="$json" --benchmark_out_format=json "$@"

load_after="$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"

python3 - "$json" "$load_before" "$load_after" <<'PY'
import json
import os
import sys

path, load_before, load_after = sys.argv[1:4]
with open(path) as f:
    data = json.load(f)

median = {}
for b in data.get("benchmarks", []):
    if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
        continue
    if b.get("error_occurred"):
        print(f"!! {b.get('run_name', b['name'])}: {b.get('error_message', 'error')}")
        continue
    median[b.get("run_name", b["name"])] = b


def get(prefix, field="items_per_second"):
    # Names carry suffixes such as /min_time:1.000/real_time; match on the leading part.
    for name, b in median.items():
        if name == prefix or name.startswith(prefix + "/"):
            return b.get(field)
    return None


def rate(x):
    if x is None:
        return "n/a"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M/s"
    if x >= 1e3:
        return f"{x / 1e3:.1f}k/s"
    return f"{x:.0f}/s"


def ratio(a, b):
    return None if a is None or not b else a / b


def pct(x):
    return "n/a" if x is None else f"{x:.2f}"


ctx = data.get("context", {})
print()
print("== Passage event log: ratios (quality bars, docs/architecture.md), medians of 3 repetitions ==")
print(f"host: {ctx.get('num_cpus', os.cpu_count())} CPUs @ {ctx.get('mhz_per_cpu', '?')} MHz, "
      f"load average {load_before} before / {load_after} after "
      "(shared machine: figures drift, compare ratios within one run)")

syncs = get("BM_Fdatasync")
p50 = get("BM_Fdatasync", "p50_us")
p99 = get("BM_Fdatasync", "p99_us")
p50_text = "n/a" if p50 is None else f"{p50:.0f}"
p99_text = "n/a" if p99 is None else f"{p99:.0f}"
print(f"disk: 4 KiB append + fdatasync {rate(syncs)} (p50 {p50_text} us, p99 {p99_text} us)")

appends = {n: get(f"BM_DurableAppend/batch:{n}") for n in (1, 16, 64, 256, 1024)}
plateau = appends[1024]
cpu_1024 = get("BM_DurableAppend/batch:1024", "cpu_time")  # microseconds per batch
cpu_rate = None if not cpu_1024 else 1024 * 1e6 / cpu_1024
cpu_cost = "n/a" if not cpu_1024 else f"{cpu_1024 / 1024:.1f} us/event"
print(f"CPU-bound plateau (durable append at batch 1024): {rate(plateau)}; the appending thread's "
      f"CPU alone costs {cpu_cost} = {rate(cpu_rate)} if it never waited")
print()
print("durable append (sync=true)   measured   disk ceiling   /ceiling   min(ceiling,plateau)   /min   verdict")
for n, measured in appends.items():
    ceiling = None if syncs is None else n * syncs
    bound = None if ceiling is None or plateau is None else min(ceiling, plateau)
    r_ceiling = ratio(measured, ceiling)
    r_bound = ratio(measured, bound)
    if n < 64:
        verdict = "(info)"
    elif r_bound is None:
        verdict = "n/a"
    else:
        verdict = "PASS" if r_bound >= 0.8 else "FAIL"
        verdict += " (bar 0.80)"
    # The appending thread's CPU time over wall time says which limit it met: near 1 it was computing
    # (CPU-bound); well below, it was waiting for the disk (syncs of the whole batch, background
    # flushes), which "batch x fdatasync/s" does not capture.
    wall = get(f"BM_DurableAppend/batch:{n}", "real_time")
    cpu = get(f"BM_DurableAppend/batch:{n}", "cpu_time")
    busy = ratio(cpu, wall)
    if busy is not None and n >= 64:
        far = r_ceiling is not None and r_ceiling < 0.5
        kind = "CPU-bound" if busy >= 0.7 else "waits on the disk"
        verdict += f", {kind} (writer busy {busy:.0%})" + (", far below the disk ceiling" if far else "")
    print(f"  batch {n:<5}                {rate(measured):>9}   {rate(ceiling):>12}   {pct(r_ceiling):>8}"
          f"   {rate(bound):>20}   {pct(r_bound):>4}   {verdict}")

scan = get("BM_PlainRocksScan")
replay = get("BM_VerifiedReplay")
heads = get("BM_VerifiedReplay", "heads")
hashes = get("BM_HashOnly")
r_replay = ratio(replay, scan)
print()
print(f"plain RocksDB scan of 200k events: {rate(scan)}")
print(f"verified replay (VerifyLog, {heads:.0f} signed heads): {rate(replay)}" if heads is not None
      else f"verified replay (VerifyLog): {rate(replay)}")
print(f"leaf hash of 500 B alone: {rate(hashes)}")
verdict = "n/a" if r_replay is None else ("PASS" if r_replay >= 0.5 else "FAIL")
print(f"verified replay / plain scan = {pct(r_replay)}  (bar >= 0.50: {verdict})")
PY

# Growth (quality bars, docs/architecture.md): journey query, reopen after SIGKILL and RSS at 10k vs 1M events; builds
# its own logs under $PASSAGE_BENCH_DIR. Extra flags via $PASSAGE_GROWTH_ARGS, e.g. "--large 200000".
growth_bin="$build_dir/bench/growth_bench"
if [[ -x "$growth_bin" ]]; then
  echo
  # shellcheck disable=SC2086  # word splitting of the extra flags is intended
  "$growth_bin" ${PASSAGE_GROWTH_ARGS:-} || true
else
  echo "bench/run.sh: $growth_bin is not built; skipping the growth bench" >&2
fi

# Broker load (issue 3 §8): passage-broker (CURVE and --insecure) against its equal-work
# peers, every one syncing before it replies: redis-server XADD (appendfsync always), Redis doing
# Passage's per-event work in one function (redis-equal), PostgreSQL 15 (synchronous_commit=on),
# and the disk's fdatasync; open loop, 3 interleaved rounds; prints its own table and ratios. Run
# twice: one event per PUBLISH frame (32 publishers x 16 frames in flight), then 16 events per
# frame as the client library sends a backlog (32 x 4 frames of 16; the peers get the same 64
# events in flight per connection). About 3 minutes each; temp files under $PASSAGE_BENCH_DIR
# (default /tmp). Extra flags for both via $PASSAGE_BROKER_LOAD_ARGS, e.g. "--quick".
load_bin="$build_dir/bench/broker_load"
if [[ ! -x "$load_bin" ]]; then
  echo "bench/run.sh: $load_bin is not built (run make build)" >&2
  exit 1
fi
summary="$(mktemp)"
trap 'rm -f "$summary"' EXIT
echo
# shellcheck disable=SC2086  # word splitting of the extra flags is intended
"$load_bin" --summary "$summary" ${PASSAGE_BROKER_LOAD_ARGS:-}
echo
# shellcheck disable=SC2086
"$load_bin" --batch 16 --window 4 --summary "$summary" ${PASSAGE_BROKER_LOAD_ARGS:-}

# The equal-work bars of both broker runs in one table (each a median over the interleaved rounds).
python3 - "$summary" "$run_date" "$machine" "$load_before" \
  "$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')" <<'PY'
import sys

path, run_date, machine, load_before, load_after = sys.argv[1:6]
rows = {}
with open(path) as f:
    for line in f:
        parts = line.rstrip("\n").split("\t")
        if len(parts) == 6:
            rows[parts[0]] = parts[1:]

bars = [
    ("vs_redis_equal", "throughput / Redis equal work (one function per event)"),
    ("vs_redis_xadd", "throughput / plain Redis XADD"),
    ("vs_postgres", "throughput / PostgreSQL 15, synchronous_commit=on"),
    ("cpu_vs_redis_xadd", "broker CPU per acked event / plain Redis XADD's"),
    ("p99_vs_redis_equal", "p99 publish->ack at the fixed rate / Redis equal work's"),
]
print()
print("== Passage broker vs equal-work peers (CURVE on; medians of the interleaved rounds) ==")
print(f"{run_date}; {machine}; load average {load_before} before the bench, {load_after} now")
print(f"  {'ratio':<56} {'1 event per PUBLISH':>24} {'16 events per PUBLISH':>24}   bar")
for key, what in bars:
    cells = []
    bar = ""
    for k in ("k1", "k16"):
        r = rows.get(f"{k}.{key}")
        if r is None:
            cells.append("n/a")
            continue
        median, lo, hi, bar, verdict = r
        cells.append(f"{float(median):.2f} ({float(lo):.2f}-{float(hi):.2f}) {verdict}")
    print(f"  {what:<56} {cells[0]:>24} {cells[1]:>24}   {bar}")
PY

# The web workspace's inbox (issue 11 §9): GET / for 10,000 referrals against passagectl --json
# inbox for the same data, on a real NRM; records the cases first (several minutes).
inbox_bin="$build_dir/bench/inbox_bench"
if [[ -x "$inbox_bin" ]]; then
  echo
  # shellcheck disable=SC2086
  "$inbox_bin" ${PASSAGE_INBOX_BENCH_ARGS:-}
fi
