#!/usr/bin/env bash
# bench/kamailio-writethrough.sh
#
# Runs the harness's Kamailio reference (BENCH_DIR/kamailio) in the
# FOREGROUND with one change: usrloc writes every binding through to its
# SQLite database (db_mode 1) instead of keeping it in memory only
# (db_mode 0). That is what Palio's default location store does, so
# compare.sh measures REGISTER in both modes like for like. The database
# gets the location table shipped with kamailio-sqlite-modules and is put
# in WAL mode, as Palio's is (in its default rollback journal Kamailio's
# two workers fail REGISTERs with "database is locked").
# Env: BENCH_DIR, BENCH_OUT, KAM_SHM_MB (1024), KAM_PKG_MB (16).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
BENCH_DIR=${BENCH_DIR:-$(cd "$here/../../shared/bench" && pwd)}
schema=/usr/share/kamailio/db_sqlite/usrloc-create.sql
[[ -r $schema ]] || { echo "kamailio-writethrough.sh: $schema missing (apt-get install -y kamailio-sqlite-modules)" >&2; exit 2; }
run=${BENCH_OUT:-${TMPDIR:-/tmp}/palio-bench}/kamailio-wt-run
mkdir -p "$run"
"$BENCH_DIR/kamailio/setup-db.sh" "$run/kamailio.sqlite" >&2
sqlite3 "$run/kamailio.sqlite" < "$schema"
sqlite3 "$run/kamailio.sqlite" "PRAGMA journal_mode=WAL;" >/dev/null
cfg=$run/kamailio.cfg
sed -e 's/^modparam("usrloc", "db_mode", 0)$/modparam("usrloc", "db_mode", 1)\nmodparam("usrloc", "db_url", DBURL)/' \
  "$BENCH_DIR/kamailio/kamailio.cfg" > "$cfg"
grep -q 'modparam("usrloc", "db_mode", 1)' "$cfg" || { echo "kamailio-writethrough.sh: no usrloc db_mode 0 line to change in $BENCH_DIR/kamailio/kamailio.cfg" >&2; exit 2; }
exec kamailio -f "$cfg" -DD -E \
  -Y "$run" -P "$run/kamailio.pid" \
  -m "${KAM_SHM_MB:-1024}" -M "${KAM_PKG_MB:-16}" \
  -A "DBURL=\"sqlite://$run/kamailio.sqlite\""
