#!/usr/bin/env bash
# Search throughput of a release build, and what indexing costs a write, on the embedded
# SQLite and on PostgreSQL, measured with wrk on this machine's loopback.
#
#   bench/search.sh [posts (2000)] [seconds (10)] [connections (64)] [engines ("sqlite postgres")]
#                   [warm-up seconds (30)]
#
# Seeds POSTS posts of real text in four languages from ../shared/samples
# (bench/seed_search.py, 8 writers at once, timed: posts per second with the index written in
# each post's transaction), then loads GET /api/v1/search with 14 queries in turn
# (bench/lua/search.lua), and GET /api/v1/posts beside it for scale. The searches are first
# run unmeasured for the warm-up seconds, as a server that has been serving has read its
# index pages and term counts; 0 measures it cold, straight after seeding. PostgreSQL is
# ${QUIRE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}; the script makes and drops
# a database there.
set -euo pipefail
cd "$(dirname "$0")/.."
posts=${1:-2000}
seconds=${2:-10}
connections=${3:-64}
engines=${4:-sqlite postgres}
warmup=${5:-30}
postgres_url=${QUIRE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
postgres_url=${postgres_url%/}
database=quire_bench_search
samples=${QUIRE_BENCH_SAMPLES:-../shared/samples}
source bench/lib.sh
need_wrk
quire_binary
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT

start_server() { start_quire "$bin" "$work/$engine"; }

rows=()
run() {
  local label=$1; shift
  local out
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@")
  local rps p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk -F: '/Non-2xx or 3xx responses/ {gsub(/ /, "", $2); print $2}' <<<"$out")
  printf '  %-40s %10s req/s  p99 %8s  non-2xx %s\n' "$label" "$rps" "$p99" "${non2xx:-0}"
  rows+=("| $engine | $label | $rps | $p99 |")
}

for engine in $engines; do
  mkdir -p "$work/$engine"
  unset QUIRE_DATABASE_URL
  if [ "$engine" = postgres ]; then
    psql -qX "$postgres_url/postgres" -c "DROP DATABASE IF EXISTS $database" -c "CREATE DATABASE $database"
    export QUIRE_DATABASE_URL="$postgres_url/$database"
  fi
  start_server
  echo "$engine: seeding $posts posts"
  began=$(date +%s.%N)
  languages=$(python3 bench/seed_search.py "http://$address" "$samples" "$posts")
  took=$(echo "$(date +%s.%N) - $began" | bc)
  rate=$(echo "scale=0; $posts / $took" | bc)
  echo "  seeded in ${took%.*} s ($rate posts/s, 8 writers), languages: $languages"
  rows+=("| $engine | seeding: POST /api/v1/posts, 8 writers | $rate | |")
  if [ "$warmup" -gt 0 ]; then
    wrk -t2 -c"$connections" -d"${warmup}s" -s bench/lua/search.lua "http://$address" >/dev/null
  fi
  run "GET /api/v1/search (14 queries in turn)" -s bench/lua/search.lua "http://$address"
  run "GET /api/v1/search?q=the (a common word)" "http://$address/api/v1/search?q=the"
  run "GET /api/v1/search?q=unicode (a rare word)" "http://$address/api/v1/search?q=unicode"
  run "GET /api/v1/posts (for scale)" "http://$address/api/v1/posts"
  run "GET /api/v1/posts/{id} (one post, its HTML)" "http://$address/api/v1/posts/$((posts / 2))"
  stop_quire
  [ "$engine" = postgres ] && psql -qX "$postgres_url/postgres" -c "DROP DATABASE IF EXISTS $database"
done

echo
echo "| engine | scenario | req/s | p99 |"
echo "|---|---|---:|---:|"
printf '%s\n' "${rows[@]}"
