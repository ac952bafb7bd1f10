#!/usr/bin/env bash
# Relay throughput of a release build: how many events per second `quire worker` moves from
# the outbox to NATS JetStream (each acknowledged by the stream before it is marked sent).
# Fills the outbox of a fresh PostgreSQL database (quire_bench_relay) with N pending events
# in one statement, starts `quire worker` against it and NATS, and times how long the outbox
# takes to drain (the worker's start-up included, so the rate is a lower bound).
#
#   bench/relay.sh [events (100000)]
#
# PostgreSQL is ${QUIRE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}, NATS is
# ${QUIRE_BENCH_NATS_URL:-nats://127.0.0.1:4222}. QUIRE_BIN names a quire binary to measure
# instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-100000}
postgres_url=${QUIRE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
postgres_url=${postgres_url%/}
nats_url=${QUIRE_BENCH_NATS_URL:-nats://127.0.0.1:4222}
database=quire_bench_relay
source bench/lib.sh
quire_binary
work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

psql "$postgres_url/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)"
psql "$postgres_url/postgres" -qc "CREATE DATABASE $database"
url="$postgres_url/$database"
QUIRE_DATA_DIR="$work" QUIRE_DATABASE_URL="$url" "$bin" migrate >/dev/null

# N pending events of one realistic shape (a follow), as writes would have recorded them.
psql "$url" -qc "
  INSERT INTO outbox (id, type, aggregate_type, aggregate_id, occurred_at, actor_id,
                      schema_version, data)
  SELECT gen_random_uuid()::text, 'user.followed', 'user', 1 + n % 1000,
         (extract(epoch from now()) * 1000)::bigint, 1 + n % 1000, 1,
         json_build_object('followerId', 1 + n % 1000, 'followeeId', 2 + n % 997)::text
  FROM generate_series(1, $events) AS n"
pending() { psql "$url" -qAtc "SELECT count(*) FROM outbox WHERE sent_at IS NULL"; }
echo "outbox: $(pending) pending events"

start=$(date +%s.%N)
QUIRE_DATA_DIR="$work" QUIRE_DATABASE_URL="$url" QUIRE_NATS_URL="$nats_url" \
  QUIRE_ADMIN_LISTEN=127.0.0.1:0 QUIRE_LOG=warn "$bin" worker >"$work/worker.log" 2>&1 &
pid=$!
while [ "$(pending)" -gt 0 ]; do
  if ! kill -0 "$pid" 2>/dev/null; then
    cat "$work/worker.log" >&2
    echo "the worker exited" >&2
    exit 1
  fi
  sleep 0.2
done
end=$(date +%s.%N)
kill -TERM "$pid"
wait "$pid" || true
pid=
seconds=$(echo "$end - $start" | bc -l)
rate=$(echo "$events / $seconds" | bc -l)
printf '| events | seconds (start to drained) | events/s |\n|---:|---:|---:|\n'
printf '| %d | %.2f | %.0f |\n' "$events" "$seconds" "$rate"
psql "$postgres_url/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)"
