#!/usr/bin/env bash
# Read throughput of a release build on the embedded defaults, measured with wrk on this
# machine's loopback. Seeds 4 users, 200 posts with tags, favorites, follows and comments,
# then loads each read endpoint in turn and prints requests per second.
#
#   bench/reads.sh [seconds per endpoint] [connections]
#
# The load generator shares the machine with the server: compare numbers taken here with
# numbers taken the same way, not with another machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
connections=${2:-64}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quire-target}"

if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
fi
cargo build --release --locked --bin quire --bin hello_world
data=$(mktemp -d)
# Rate limits off: the load comes from one address, and this measures serving, not refusing.
export QUIRE_RATE_LIMITS=off
QUIRE_LISTEN=127.0.0.1:0 QUIRE_DATA_DIR="$data" QUIRE_LOG_FORMAT=json QUIRE_LOG=info \
  "$CARGO_TARGET_DIR/release/quire" >"$data/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 100); do
  address=$(grep -o '"address":"[^"]*"' "$data/log" | head -1 | cut -d'"' -f4 || true)
  [ -n "$address" ] && break
  sleep 0.1
done
api="http://$address/api"

json() { curl -sf "$@" -H 'Content-Type: application/json'; }
token_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["user"]["token"])'; }
declare -A tokens
for name in reader alice bob carol; do
  tokens[$name]=$(json "$api/users" -d "{\"user\":{\"username\":\"$name\",\"email\":\"$name@example.com\",\"password\":\"password123\"}}" | token_of)
done
authors=(alice bob carol)
for i in $(seq 1 200); do
  author=${authors[$((i % 3))]}
  json "$api/articles" -H "Authorization: Token ${tokens[$author]}" -o /dev/null \
    -d "{\"article\":{\"title\":\"Post number $i\",\"description\":\"About $i\",\"body\":\"# Post $i\\n\\nSome text.\",\"tagList\":[\"tag$((i % 10))\",\"common\"]}}"
  if [ $((i % 2)) -eq 0 ]; then
    curl -sf -X POST "$api/articles/post-number-$i/favorite" -H "Authorization: Token ${tokens[reader]}" -o /dev/null
  fi
done
for i in $(seq 1 20); do
  json "$api/articles/post-number-200/comments" -H "Authorization: Token ${tokens[bob]}" -o /dev/null \
    -d "{\"comment\":{\"body\":\"Comment $i\"}}"
done
for author in alice bob; do
  curl -sf -X POST "$api/profiles/$author/follow" -H "Authorization: Token ${tokens[reader]}" -o /dev/null
done
# Keep only warnings from here on, so the measurement is of serving, not of seeding logs.
kill $pid; wait $pid 2>/dev/null || true
QUIRE_LISTEN="$address" QUIRE_DATA_DIR="$data" QUIRE_LOG_FORMAT=json \
  "$CARGO_TARGET_DIR/release/quire" >"$data/log" 2>&1 &
pid=$!
sleep 1

auth="Authorization: Token ${tokens[reader]}"
printf '%-44s %12s %12s\n' endpoint req/s p99
run() {
  local label=$1; shift
  local out
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$@")
  printf '%-44s %12s %12s\n' "$label" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")"
}
# The ceiling, side by side: a bare axum hello-world on the same runtime, loaded the same way.
hello_log="$data/hello"
"$CARGO_TARGET_DIR/release/hello_world" 127.0.0.1:0 >"$hello_log" &
hello=$!
trap 'kill $pid $hello 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 50); do [ -s "$hello_log" ] && break; sleep 0.1; done
run "hello world (bare axum, the ceiling)" "http://$(head -1 "$hello_log")/"
kill $hello; wait $hello 2>/dev/null || true
run "GET /api/articles (anonymous)" "$api/articles"
run "GET /api/articles (signed in)" -H "$auth" "$api/articles"
run "GET /api/articles?tag=tag3" "$api/articles?tag=tag3"
run "GET /api/articles?author=alice&offset=40" "$api/articles?author=alice&offset=40"
run "GET /api/articles/feed (signed in)" -H "$auth" "$api/articles/feed"
run "GET /api/articles/:slug" "$api/articles/post-number-150"
run "GET /api/articles/:slug/comments (20)" "$api/articles/post-number-200/comments"
run "GET /api/profiles/:username" "$api/profiles/alice"
run "GET /api/tags" "$api/tags"
graphql() { printf 'http://%s/graphql?query=%s' "$address" "$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1")"; }
run "GraphQL posts(first: 20) like /api/articles" \
  "$(graphql '{ posts(first: 20) { edges { node { slug title description tags favoritesCount favorited createdAt author { username bio image followedByViewer } } } } }')"
run "GraphQL posts(first: 20) with comments" \
  "$(graphql '{ posts(first: 20) { edges { node { author { name } tags comments(first: 3) { nodes { author { name } } } favoritesCount } } } }')"
run "GraphQL the guide's GetUser (20 posts)" -H "$auth" \
  "$(graphql '{ user(id: "2") { id name email posts { id title content } } }')"
