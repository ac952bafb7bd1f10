#!/usr/bin/env bash
# One post read, side by side: two release builds of quire serve the same post and are loaded
# in turn, so a change to what a post read costs (its stored HTML, its table of contents) is
# measured against the build before it on the same machine in the same sitting.
#
#   bench/one_post.sh BEFORE_BINARY AFTER_BINARY [rounds (3)] [seconds (10)] [connections (16)]
#
# Each build gets a fresh data directory holding one author and one post, created through the
# RealWorld API (which every build serves) with the body of
# ../shared/samples/deep-dive-into-backend-development.ko.md (about 40 KB of Markdown with
# headings, tables, code and directives). Each round loads `GET /api/v1/posts/{id}` and
# `GET /api/articles/{slug}` on one build, then on the other, with wrk; the table gives
# requests per second and p99 per round. The load generator shares the machine with the
# server: compare the two columns, not these numbers with another machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?the build before: a quire binary}
after=${2:?the build after: a quire binary}
rounds=${3:-3}
seconds=${4:-10}
connections=${5:-16}
sample=${QUIRE_BENCH_SAMPLE:-../shared/samples/deep-dive-into-backend-development.ko.md}
source bench/lib.sh
need_wrk
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT

# Seeds build $1's data directory $2 with the post; prints "id slug".
seed() {
  start_quire "$1" "$2"
  python3 - "http://$address" "$sample" <<'EOF'
import json, pathlib, re, sys, urllib.request
api, sample = sys.argv[1], pathlib.Path(sys.argv[2])
body = re.sub(r"\A---\n.*?\n---\n", "", sample.read_text(), flags=re.S)
def call(path, data, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(api + path, json.dumps(data).encode(), headers)
    with urllib.request.urlopen(request) as reply:
        return json.load(reply)
user = call("/api/users", {"user": {"username": "writer", "email": "writer@example.com",
                                    "password": "a long pass phrase 1"}})["user"]
article = call("/api/articles", {"article": {
    "title": "Deep dive into backend development", "description": "A guide",
    "body": body, "tagList": ["backend", "guide"]}}, user["token"])["article"]
with urllib.request.urlopen(api + "/api/v1/posts?limit=1") as reply:
    listed = json.load(reply)
print(listed["items"][0]["postId"], article["slug"])
EOF
  stop_quire
}

mkdir -p "$work/before" "$work/after"
read -r before_id before_slug < <(seed "$before" "$work/before")
read -r after_id after_slug < <(seed "$after" "$work/after")
after_bytes=
before_bytes=

measure() {
  local out
  out=$(wrk -t2 -c"$connections" -d"${seconds}s" --latency "$1")
  printf '%s %s' "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1=="99%" {print $2}' <<<"$out")"
}

echo "| round | read | before req/s | before p99 | after req/s | after p99 |"
echo "|---|---|---:|---:|---:|---:|"
for round in $(seq 1 "$rounds"); do
  declare -A result=()
  for side in before after; do
    if [ $side = before ]; then binary=$before id=$before_id slug=$before_slug
    else binary=$after id=$after_id slug=$after_slug; fi
    start_quire "$binary" "$work/$side"
    if [ "$round" = 1 ]; then
      printf -v "${side}_bytes" '%s' "$(curl -sf "http://$address/api/v1/posts/$id" | wc -c)"
    fi
    # A second of load first, so both builds are measured warm.
    wrk -t2 -c"$connections" -d1s "http://$address/api/v1/posts/$id" >/dev/null
    result[$side,v1]=$(measure "http://$address/api/v1/posts/$id")
    result[$side,realworld]=$(measure "http://$address/api/articles/$slug")
    stop_quire
  done
  for read in v1 realworld; do
    label="GET /api/v1/posts/{id}"
    [ $read = realworld ] && label="GET /api/articles/{slug}"
    read -r b_rps b_p99 <<<"${result[before,$read]}"
    read -r a_rps a_p99 <<<"${result[after,$read]}"
    echo "| $round | $label | $b_rps | $b_p99 | $a_rps | $a_p99 |"
  done
done
echo
echo "GET /api/v1/posts/{id} answers $before_bytes bytes before and $after_bytes bytes after."
