#!/usr/bin/env bash
# bench/prepare.sh UNISI_BINARY DB_PATH [USERS_CSV]
#
# Prepares an example database for the SIPp harness contract
# (../shared/bench/README.md): 127.0.0.1 trusted (address group 1), a
# permanent binding 5002 -> sip:5002@127.0.0.1:5090 (the harness's UAS),
# and the bench accounts of users.csv (user1000..user1999, "user;password;..."
# lines) with their HA1s for the example's realm, voip.unisi.it.
set -euo pipefail
bin=${1:?usage: prepare.sh UNISI_BINARY DB_PATH [USERS_CSV]}
db=${2:?usage: prepare.sh UNISI_BINARY DB_PATH [USERS_CSV]}
here=$(cd "$(dirname "$0")" && pwd)
users=${3:-$here/../../shared/bench/users.csv}
realm=voip.unisi.it
[[ -s $users ]] || { echo "prepare.sh: no users file at $users" >&2; exit 2; }

# Commands act on an existing database only: create and seed it first
# (a binary older than 'init' seeded it on any command).
"$bin" -db "$db" init >/dev/null 2>&1 || true
"$bin" -db "$db" address add 1 127.0.0.1/32 -tag bench >/dev/null
"$bin" -db "$db" location add 5002 sip:5002@127.0.0.1:5090 >/dev/null

tsv=$(mktemp)
trap 'rm -f "$tsv"' EXIT
printf 'username\tdomain\tha1\tha1_sha256\n' > "$tsv"
while IFS=';' read -r user pw _; do
  [[ $user == user* ]] || continue
  md5=$(printf '%s:%s:%s' "$user" "$realm" "$pw" | md5sum | cut -d' ' -f1)
  sha=$(printf '%s:%s:%s' "$user" "$realm" "$pw" | sha256sum | cut -d' ' -f1)
  printf '%s\t%s\t%s\t%s\n' "$user" "$realm" "$md5" "$sha" >> "$tsv"
done < "$users"
"$bin" -db "$db" import subscriber "$tsv" | tail -1
