#!/usr/bin/env bash
# Upgrade from an earlier release's log (tests/data/releases/README.md): the current passagectl
# verifies it and replays it to the digest the release computed; the current broker opens it, passes
# its start-up checks and serves it at the same size.
#
# usage: upgrade_from_release.sh RELEASE_DIR PASSAGECTL PASSAGE_BROKER
set -euo pipefail
release_dir=$1
passagectl=$2
broker=$3

work=$(mktemp -d)
broker_pid=
cleanup() {
  if [[ -n $broker_pid ]] && kill -0 "$broker_pid" 2>/dev/null; then
    kill -KILL "$broker_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
field() { awk -v k="$1" '$1 == k { print $2 }' "$release_dir/release.txt"; }

release=$(field release)
entries=$(field entries)
heads=$(field heads)
root=$(field root)
digest=$(field digest)
[[ -n $release && -n $entries && -n $root && -n $digest ]] || fail "release.txt is incomplete"

mkdir -p "$work/broker/log"
tar -xJf "$release_dir/broker-log.tar.xz" -C "$work/broker/log"
install -m 0600 "$release_dir/signing.key" "$work/broker/signing.key"
install -m 0600 "$release_dir/broker.curve" "$work/broker.curve"
echo "release $release: $entries entries, $heads signed heads, root $root"

# 1. The current auditor's verification of the release's log: every entry, every head, same root.
verify=$("$passagectl" audit verify --log "$work/broker/log") || fail "audit verify refused the $release log: $verify"
grep -Eq "^events +$entries checked" <<<"$verify" || fail "audit verify did not check $entries events: $verify"
grep -Eq "^heads +$heads signed tree heads checked" <<<"$verify" || fail "audit verify did not check $heads heads: $verify"
grep -Eq "^root +$root\$" <<<"$verify" || fail "the root differs from the release's: $verify"
echo "audit verify: ok, $entries events and $heads heads, the release's root"

# 2. The current replay folds every old event to the same states as the release did.
replay=$("$passagectl" --json replay --log "$work/broker/log" --digest) || fail "replay failed: $replay"
grep -q "\"digest\":\"$digest\"" <<<"$replay" || fail "replay digest differs from $release's $digest: $replay"
grep -q "\"entries\":$entries," <<<"$replay" || fail "replay did not fold $entries entries: $replay"
echo "replay: the release's digest $digest"

# 3. The current broker opens the old log for writing, checks it at start and serves it.
"$broker" --data-dir "$work/broker" --registry "$release_dir/registry.textproto" \
  --key-file "$work/broker.curve" --listen tcp://127.0.0.1:0 \
  --endpoint-file "$work/broker.endpoint" >"$work/broker.out" 2>&1 &
broker_pid=$!
for _ in $(seq 1 300); do
  [[ -s $work/broker.endpoint ]] && break
  kill -0 "$broker_pid" 2>/dev/null || { cat "$work/broker.out" >&2; fail "the broker stopped on the $release log"; }
  sleep 0.1
done
[[ -s $work/broker.endpoint ]] || { cat "$work/broker.out" >&2; fail "the broker did not start within 30 s"; }
grep -q "log at seq $entries" "$work/broker.out" || { cat "$work/broker.out" >&2; fail "the broker does not serve the log at seq $entries"; }
kill -TERM "$broker_pid"
status=0
wait "$broker_pid" || status=$?
broker_pid=
[[ $status -eq 0 ]] || { cat "$work/broker.out" >&2; fail "the broker exited $status on SIGTERM"; }
echo "broker: started on the $release log at seq $entries and stopped cleanly"

# 4. What the broker left is still the release's log, verified whole.
verify=$("$passagectl" audit verify --log "$work/broker/log") || fail "audit verify after the broker ran: $verify"
grep -Eq "^root +$root\$" <<<"$verify" || fail "the root changed after the broker ran: $verify"
echo "PASS: upgrade from $release"
