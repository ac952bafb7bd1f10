#!/usr/bin/env bash
# The load scenarios over every contract, on a database seeded with `quire seed`.
#
#   bench/load.sh POSTS [sqlite|postgres] [seconds per scenario] [connections]
#
# Seeds POSTS posts once into ${QUIRE_BENCH_DATA:-~/.cache/quire-bench} (a SQLite file, or
# the PostgreSQL database quire_bench_POSTS on $QUIRE_BENCH_POSTGRES_URL, default the local
# server) and keeps it for later runs; each run works on a copy, so writes never change the
# seed. Starts a release build on it (rate limits off), measures the start-up, then loads
# each scenario in turn with wrk (HTTP/1.1) or h2load (gRPC over HTTP/2), and appends one
# JSON line per scenario to bench/results/DATE-ENGINE-POSTS[-cached].jsonl: requests per second,
# p50 and p99 in ms, non-2xx answers, the server's resident memory after the scenario.
# bench/report.py turns the results into bench/REPORT.md and its charts.
#
# LOAD_ONLY=REGEX runs only the scenarios whose names match, and keeps no results.
#
# The application cache is off (QUIRE_CACHE=off): the targets are for the uncached path.
# QUIRE_CACHE=memory measures the default configuration instead.
#
# The load generator shares the machine with the server: compare numbers taken here with
# numbers taken the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
posts=${1:?usage: bench/load.sh POSTS [sqlite|postgres] [seconds] [connections]}
engine=${2:-sqlite}
seconds=${3:-10}
connections=${4:-64}
source bench/lib.sh

need_wrk
command -v h2load >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client
}
quire_binary
store=${QUIRE_BENCH_DATA:-$HOME/.cache/quire-bench}
pg_url=${QUIRE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
pg_base=${pg_url%/*}
seeded="$store/$engine-$posts"
work=$(mktemp -d)
trap 'stop_quire 2>/dev/null || true; rm -rf "$work"; [ "$engine" = postgres ] && psql -qAt "$pg_url" -c "DROP DATABASE IF EXISTS quire_bench_run" >/dev/null 2>&1 || true' EXIT

# The seed, made once per engine and size.
if [ ! -f "$seeded/seeded" ]; then
  rm -rf "$seeded" && mkdir -p "$seeded"
  if [ "$engine" = postgres ]; then
    psql -qAt "$pg_url" -c "DROP DATABASE IF EXISTS quire_bench_$posts" -c "CREATE DATABASE quire_bench_$posts"
    export QUIRE_DATABASE_URL="$pg_base/quire_bench_$posts"
  fi
  started=$(date +%s)
  QUIRE_DATA_DIR="$seeded" QUIRE_LOG=warn "$bin" seed --posts "$posts" | tee "$seeded/seed.log"
  echo "seed_seconds=$(($(date +%s) - started))" >>"$seeded/seed.log"
  # Rendering and indexing rewrote every post: vacuum as the autovacuum would before a
  # database that size serves traffic, so index-only scans find the pages all-visible.
  [ "$engine" != postgres ] || psql -qAt "$pg_base/quire_bench_$posts" -c "VACUUM ANALYZE"
  touch "$seeded/seeded"
fi

# A working copy.
cp -r "$seeded/." "$work/"
if [ "$engine" = postgres ]; then
  psql -qAt "$pg_url" -c "DROP DATABASE IF EXISTS quire_bench_run" \
    -c "CREATE DATABASE quire_bench_run TEMPLATE quire_bench_$posts"
  export QUIRE_DATABASE_URL="$pg_base/quire_bench_run"
  export QUIRE_DATABASE_POOL_SIZE=${QUIRE_DATABASE_POOL_SIZE:-16}
fi

export QUIRE_CACHE=${QUIRE_CACHE:-off}
suffix=
[ "$QUIRE_CACHE" = off ] || suffix="-cached"
now_ms() { date +%s%3N; }
launched=$(now_ms)
start_quire "$bin" "$work"
until curl -sf "http://$address/readyz" >/dev/null; do sleep 0.01; done
startup_ms=$(($(now_ms) - launched))
base="http://$address"

login=$(curl -sf "$base/api/users/login" -H 'Content-Type: application/json' \
  -d '{"user":{"email":"user1@example.com","password":"quiet harbour lantern at dawn"}}')
token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["user"]["token"])' <<<"$login")
auth="Authorization: Token $token"
slug="seeded-post-$((posts - 1))"
post_id=$((posts - 1))

date=$(date -u +%Y-%m-%d)
results="$root/bench/results/$date-$engine-$posts$suffix.jsonl"
[ -z "${LOAD_ONLY:-}" ] || results="$work/results.jsonl"
wanted() { [ -z "${LOAD_ONLY:-}" ] || [[ $1 =~ $LOAD_ONLY ]]; }
: >"$results"
# The server's own memory (RssAnon): VmRSS also counts the pages of SQLite's memory-mapped
# database file, which are the kernel's page cache, shared and reclaimable.
rss_mib() { awk '/RssAnon/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
vm_rss_mib() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$pid/status"; }
record() { # record NAME RPS P50 P99 NON2XX
  printf '{"scenario":"%s","engine":"%s","cache":"'"$QUIRE_CACHE"'","posts":%s,"connections":%s,"seconds":%s,"rps":%s,"p50_ms":%s,"p99_ms":%s,"non2xx":%s,"rss_mib":%s,"vm_rss_mib":%s,"startup_ms":%s,"date":"%s","machine":"%s cores, %s"}\n' \
    "$1" "$engine" "$posts" "$connections" "$seconds" "$2" "$3" "$4" "$5" "$(rss_mib)" "$(vm_rss_mib)" \
    "$startup_ms" "$date" "$(nproc)" "$(uname -m)" >>"$results"
  printf '%-28s %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s\n' "$1" "$2" "$3" "$4" "$5"
}
# wrk's latency in ms, from `1.23ms`, `456.00us` or `1.20s`.
to_ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }
http() { # http NAME PATH [METHOD BODY [HEADERS]]
  local name=$1 path=$2
  wanted "$name" || return 0
  local out
  out=$(LOAD_METHOD=${3:-GET} LOAD_BODY=${4:-} LOAD_HEADERS=${5:-} \
    wrk -t2 -c"$connections" -d"${seconds}s" --latency -s bench/lua/request.lua "$base$path")
  local non2xx
  non2xx=$(awk '/Non-2xx or 3xx responses/ {print $5}' <<<"$out")
  record "$name" "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(to_ms "$(awk '$1=="50%" {print $2}' <<<"$out")")" \
    "$(to_ms "$(awk '$1=="99%" {print $2}' <<<"$out")")" "${non2xx:-0}"
}
grpc() { # grpc NAME METHOD REQUEST_BYTES(printf)
  wanted "$1" || return 0
  printf "$3" >"$work/grpc.bin"
  local requests=$((seconds * 4000))
  local out
  out=$(h2load -n"$requests" -c"$connections" -m1 -t2 -d "$work/grpc.bin" \
    -H 'content-type: application/grpc' -H 'te: trailers' --log-file="$work/grpc.log" \
    "$base/$2")
  local rps non2xx p50 p99
  rps=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out")
  non2xx=$(awk '/^status codes:/ {gsub(",", "", $3); print $3 + 0}' <<<"$out")
  non2xx=$((requests - ${non2xx:-0}))
  read -r p50 p99 < <(python3 -c '
import sys
durations = sorted(int(line.split()[2]) for line in open(sys.argv[1]) if line.strip())
pick = lambda q: durations[min(len(durations) - 1, int(q * len(durations)))] / 1000
print(f"{pick(0.50):.2f} {pick(0.99):.2f}")' "$work/grpc.log")
  record "$1" "$rps" "$p50" "$p99" "$non2xx"
}

echo "quire on $engine with $posts posts, cache $QUIRE_CACHE: started in $startup_ms ms; $connections connections, ${seconds}s per scenario"
# The machine's ceiling in this sitting: a bare axum hello-world on the same runtime, loaded
# the same way (bench/hello), so a run on a busier machine shows as such.
hello="$CARGO_TARGET_DIR/release/hello_world"
[ -x "$hello" ] || cargo build --release --locked --bin hello_world
"$hello" 127.0.0.1:0 >"$work/hello" &
hello_pid=$!
for _ in $(seq 1 50); do [ -s "$work/hello" ] && break; sleep 0.1; done
quire_base=$base
base="http://$(head -1 "$work/hello")"
http ceiling-hello-world "/"
base=$quire_base
kill "$hello_pid"; wait "$hello_pid" 2>/dev/null || true
http rw-list-anonymous "/api/articles"
http rw-list-signed-in "/api/articles" GET "" "$auth"
http rw-list-by-tag "/api/articles?tag=topic-1"
http rw-list-by-author "/api/articles?author=user2"
http rw-list-favorited "/api/articles?favorited=user2"
http rw-feed "/api/articles/feed" GET "" "$auth"
http rw-list-deep-offset "/api/articles?offset=$((posts / 2))"
http rw-article "/api/articles/$slug"
http rw-comments "/api/articles/$slug/comments"
http rw-tags "/api/tags"
http v1-list-json "/api/v1/posts" GET "" "Accept: application/json"
http v1-list-protobuf "/api/v1/posts" GET "" "Accept: application/x-protobuf"
http v1-post-json "/api/v1/posts/$post_id" GET "" "Accept: application/json"
http graphql-list "/graphql" POST \
  '{"query":"{ posts(first: 20) { nodes { id slug title description tags author { username } } } }"}' \
  "Content-Type: application/json"
http graphql-get-user "/graphql" POST \
  '{"query":"query GetUser($id: ID!) { user(id: $id) { id name email posts { id title content } } }","variables":{"id":"2"}}' \
  "Content-Type: application/json|$auth"
# ListPostsRequest { page_size: 20 }: field 1, varint 20, in a gRPC frame (uncompressed, 2 bytes).
grpc grpc-list-posts quire.v1.PostService/ListPosts '\x00\x00\x00\x00\x02\x08\x14'
http search "/api/v1/search?q=replication"
http search-korean "/api/v1/search?q=%EC%B8%A1%EC%A0%95"
http feed-atom "/feed.atom"
http rw-create-article "/api/articles" POST \
  '{"article":{"title":"Load {n}","description":"Written under load","body":"## Load\n\nA paragraph of text written under load.","tagList":["topic-3","load"]}}' \
  "Content-Type: application/json|$auth"
echo "results: $results"
