#!/usr/bin/env bash
# Makes the keys compose.yaml mounts, in deploy/compose/keys/ (gitignored):
#   <agency>.curve, <agency>.seal  every agency of deploy/config/registry.textproto (passagectl keygen)
#   broker.key, broker.pub         the broker's CURVE key pair, and its public half for the nodes
#   person.secret                  the NRM-wide secret for person keys (32 random bytes, hex)
#   registry.textproto             deploy/config/registry.textproto with every agency's public keys
# and writes PASSAGE_KEYS_GID to deploy/compose/.env (compose gives the containers that group so
# they can read the 0640 key files).
#
# passagectl is build/services/ctl/passagectl when it has been built, else the one in the image
# (docker run passage:local, or $PASSAGE_IMAGE). An existing key is never replaced: run it again
# after adding an agency and only the new agency gets keys. To start over, delete keys/ (and the
# data volumes: docker compose down -v), since old state would not match new keys.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
keys=$here/keys
registry=$root/deploy/config/registry.textproto

if [[ -x $root/build/services/ctl/passagectl ]]; then
  keygen() { "$root/build/services/ctl/passagectl" keygen --out "$keys/$1" > /dev/null; }
else
  keygen() {
    docker run --rm --network none --user "$(id -u):$(id -g)" -v "$keys:/keys" \
      "${PASSAGE_IMAGE:-passage:local}" passagectl keygen --out "/keys/$1" > /dev/null
  }
fi

# The value of the 'public:' line of a key file.
public_of() {
  local key
  key=$(sed -n 's/^public:[[:space:]]*//p' "$1")
  [[ -n $key ]] || { echo "make-keys.sh: no public key in $1" >&2; exit 1; }
  printf '%s' "$key"
}

umask 077
mkdir -p "$keys"
chmod 0700 "$keys"

# shellcheck disable=SC2013  # agency ids are [a-z0-9-], one word each
for id in $(sed -n 's/^[[:space:]]*id:[[:space:]]*"\([a-z0-9-]*\)".*/\1/p' "$registry"); do
  if [[ ! -e $keys/$id.curve && ! -e $keys/$id.seal ]]; then
    keygen "$id"
    echo "made keys/$id.curve and keys/$id.seal"
  fi
done

# The broker needs a CURVE pair only: keep the .curve file as broker.key, drop the sealing pair.
if [[ ! -e $keys/broker.key ]]; then
  rm -f "$keys/.broker-new.curve" "$keys/.broker-new.seal"
  keygen .broker-new
  mv "$keys/.broker-new.curve" "$keys/broker.key"
  rm -f "$keys/.broker-new.seal"
  echo "made keys/broker.key"
fi
printf 'public: %s\n' "$(public_of "$keys/broker.key")" > "$keys/broker.pub"

if [[ ! -e $keys/person.secret ]]; then
  head -c32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$keys/person.secret"
  echo "made keys/person.secret"
fi

# The registry with public keys: after each agency's id line, its two keys (any key lines in the
# source are dropped, so this is the same on every run).
key_line='^[[:space:]]*(transport|sealing)_public_key:'
id_line='^([[:space:]]*)id:[[:space:]]*"([a-z0-9-]+)"'
while IFS= read -r line; do
  [[ $line =~ $key_line ]] && continue
  printf '%s\n' "$line"
  if [[ $line =~ $id_line ]]; then
    indent=${BASH_REMATCH[1]} id=${BASH_REMATCH[2]}
    printf '%stransport_public_key: "%s"\n' "$indent" "$(public_of "$keys/$id.curve")"
    printf '%ssealing_public_key: "%s"\n' "$indent" "$(public_of "$keys/$id.seal")"
  fi
done < "$registry" > "$keys/registry.textproto.new"
mv "$keys/registry.textproto.new" "$keys/registry.textproto"

# Readable by the owner and the group the containers are given (group_add in compose.yaml).
gid=$(id -g)
chgrp "$gid" "$keys"/*
chmod 0640 "$keys"/*
env_file=$here/.env
{ grep -v '^PASSAGE_KEYS_GID=' "$env_file" 2> /dev/null || true; echo "PASSAGE_KEYS_GID=$gid"; } \
  > "$env_file.new"
mv "$env_file.new" "$env_file"
echo "keys in $keys; PASSAGE_KEYS_GID=$gid in $env_file"
