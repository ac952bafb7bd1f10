#!/usr/bin/env bash
# Other endpoints under a sign-in flood: `GET /api/articles` measured alone, then while wrk
# guesses passwords as fast as it can (wrong passwords for 50 emails in turn), once from one
# client and once from a new client every request (a botnet), with quire's protection on (the
# defaults: per-client sign-in limit and lockouts; the request and write quotas off so the
# measured reads are never refused) and off. The control row floods with liveness probes
# instead, the cheapest request there is: the load generator shares the two cores, and the
# control shows what that alone costs the reads.
#
#   bench/login_flood.sh [seconds (10)] [read connections (16)] [flood connections (32)]
#
# The flood's client is the X-Forwarded-For entry of a trusted proxy (quire trusts
# 127.0.0.1 here). QUIRE_BIN names a quire binary to measure; otherwise a release build is
# made. The load generator shares the machine with the server: compare rows, not these
# numbers with another machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-16}
flood=${3:-32}
source bench/lib.sh
need_wrk
quire_binary
work=$(mktemp -d)
pid=
flood_pid=
trap '[ -n "$flood_pid" ] && kill $flood_pid 2>/dev/null; [ -n "$pid" ] && kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT

# An author and 20 articles, through the RealWorld API.
seed() {
  python3 - "http://$address" <<'PY'
import json, sys, urllib.request
api = sys.argv[1]
def call(path, data, token=None):
    headers = {"Content-Type": "application/json", "X-Forwarded-For": "192.0.2.1"}
    if token:
        headers["Authorization"] = f"Token {token}"
    request = urllib.request.Request(api + path, json.dumps(data).encode(), headers)
    return json.load(urllib.request.urlopen(request))
user = call("/api/users", {"user": {"username": "author", "email": "author@example.com",
                                    "password": "a long enough password"}})["user"]
for n in range(20):
    call("/api/articles", {"article": {"title": f"Post {n}", "description": "d",
                                       "body": "word " * 200, "tagList": ["bench"]}},
         user["token"])
PY
}

# p99 and requests/s of a wrk --latency report, and its non-2xx count.
summary() {
  local rate p99 refused
  rate=$(awk '/^Requests\/sec/ {print $2}' "$1")
  p99=$(awk '$1 == "99%" {print $2}' "$1")
  refused=$(awk '/Non-2xx/ {print $5}' "$1")
  printf '%s/s, p99 %s, non-2xx %s' "${rate%.*}" "$p99" "${refused:-0}"
}

# run LABEL on|off none|one|botnet
run() {
  local data="$work/$1-$2-$3"
  mkdir -p "$data"
  if [ "$2" = on ]; then
    QUIRE_RATE_LIMITS=on QUIRE_TRUSTED_PROXIES=127.0.0.1 QUIRE_RATE_LIMIT_REQUESTS=off \
      QUIRE_RATE_LIMIT_WRITES=off start_quire "$bin" "$data"
  else
    QUIRE_RATE_LIMITS=off QUIRE_SIGN_IN_MAX_FAILURES=0 start_quire "$bin" "$data"
  fi
  seed
  local flooding=""
  if [ "$3" != none ]; then
    FLOOD_ROTATE=$([ "$3" = botnet ] && echo 1 || echo 0) \
      FLOOD_CONTROL=$([ "$3" = probes ] && echo 1 || echo 0) \
      wrk -t1 -c"$flood" -d$((seconds + 4))s -s bench/lua/login_flood.lua \
      "http://$address" >"$data/flood.txt" 2>&1 &
    flood_pid=$!
    sleep 2
  fi
  wrk -t1 -c"$connections" -d"${seconds}s" --latency "http://$address/api/articles" \
    >"$data/reads.txt" 2>&1
  if [ -n "$flood_pid" ]; then
    wait "$flood_pid" || true
    flood_pid=
    flooding=" | flood: $(summary "$data/flood.txt")"
  fi
  printf '| %s | %s | %s | %s%s |\n' "$1" "$2" "$3" "$(summary "$data/reads.txt")" "$flooding"
  stop_quire
}

echo "| run | protection | flood | GET /api/articles | sign-in flood |"
echo "|---|---|---|---|---|"
for protection in on off; do
  run baseline "$protection" none
  run control "$protection" probes
  run flood "$protection" one
  run flood "$protection" botnet
done
