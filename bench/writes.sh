#!/usr/bin/env bash
# Write throughput of a release build, measured with wrk on this machine's loopback, on
# SQLite (a fresh data directory, the embedded defaults: durability FULL) and on PostgreSQL
# (a fresh database quire_bench_writes). Seeds 64 users, 2,000 published posts with tags
# from a long tail, favorites and follows (bench/seed_writes.py), then runs each write
# scenario in turn (bench/lua/writes.lua):
#   1. POST /api/articles by one author
#   2. POST /api/articles by many authors
#   3. favorite / unfavorite of one hot post by many users, each request changing the count
#   4. POST /api/articles/:slug/comments on one post by many users
#   5. follow / unfollow of one author by many users, each request changing the count
# and reports requests per second, p50 and p99 latency, responses other than 2xx, and CPU
# in cores (CPU seconds over wall seconds) of the server and of all postgres processes on
# this machine: near the number of cores means CPU-bound, well below means waiting (on
# fsync, locks or the pool). Then checks that the counts the API reports equal the rows in
# the database, stops the server with SIGTERM and reports how long it took to exit.
#
#   bench/writes.sh [seconds per scenario (10)] [connections (64)] [engines ("sqlite postgres")]
#
# PostgreSQL is ${QUIRE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}; the
# database quire_bench_writes there is dropped and created again. QUIRE_BIN names a quire
# binary to measure instead of building one. wrk runs one thread per connection, so every
# connection writes as its own user(s). Any failed request, non-2xx response or wrong count
# makes the script exit non-zero after printing the table; its working directory (server
# logs, SQLite data) is then kept.
#
# The load generator shares the machine with the server (and PostgreSQL): compare numbers
# taken here with numbers taken the same way, not with another machine's.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
connections=${2:-64}
engines=${3:-sqlite postgres}
postgres_url=${QUIRE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}
postgres_url=${postgres_url%/}
database=quire_bench_writes
# One user per connection at least, so that no user's requests are ever in flight at once.
users=$((connections > 64 ? connections : 64))
source bench/lib.sh
need_wrk
quire_binary
clk_tck=$(getconf CLK_TCK)
work=$(mktemp -d)
pid=
rows=()
shutdowns=()
failures=()
cleanup() {
  local status=$1
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
  if [ "$status" -eq 0 ]; then
    rm -rf "$work"
  else
    echo "kept $work (server logs, SQLite data) for inspection" >&2
  fi
}
trap 'cleanup $?' EXIT
fail() {
  echo "FAILED: $*" >&2
  failures+=("$*")
}

# CPU ticks (utime + stime) of the server, of all its threads.
server_ticks() {
  local stat fields
  read -r stat 2>/dev/null <"/proc/$pid/stat" || { echo 0; return; }
  read -r -a fields <<<"${stat##*) }"
  echo $((fields[11] + fields[12]))
}
# CPU ticks of every process named postgres, with what exited children left to their parent.
postgres_ticks() {
  local total=0 file stat fields
  for file in /proc/[0-9]*/stat; do
    read -r stat 2>/dev/null <"$file" || continue
    [[ $stat == *" (postgres) "* ]] || continue
    read -r -a fields <<<"${stat##*) }"
    total=$((total + fields[11] + fields[12] + fields[13] + fields[14]))
  done
  echo "$total"
}
# Busy and iowait ticks of the whole machine.
machine_ticks() {
  local user nice system iowait irq softirq steal
  read -r _ user nice system _ iowait irq softirq steal _ </proc/stat
  echo "$((user + nice + system + irq + softirq + steal)) $iowait"
}
now_ns() { date +%s%N; }
cores() { awk -v t="$1" -v hz="$clk_tck" -v ns="$2" 'BEGIN { printf "%.2f", t / hz / (ns / 1e9) }'; }
alive() {
  local stat
  kill -0 "$pid" 2>/dev/null && read -r stat 2>/dev/null <"/proc/$pid/stat" &&
    [[ ${stat##*) } != Z* ]]
}

# Counts in the database; `?` stands for the one parameter.
db_count() {
  local sql=$1 param=${2:-}
  if [ "$engine" = sqlite ]; then
    python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute(sys.argv[2], sys.argv[3:]).fetchone()[0])' "$data/quire.db" "$sql" ${2:+"$param"}
  else
    psql -qtAX -v ON_ERROR_STOP=1 -v p="$param" "$postgres_url/$database" <<<"${sql//\?/:\'p\'}"
  fi
}
# A number from a JSON reply of the API.
api_number() {
  curl -sf "$api$1" | python3 -c 'import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value[key]
print(value)' "$2"
}
check() {
  local what=$1 from_api=$2 from_db=$3
  if [ "$from_api" = "$from_db" ]; then
    echo "  ok: $what: API $from_api = database $from_db"
  else
    echo "  WRONG: $what: API $from_api, database $from_db"
    fail "$engine: $what: API $from_api, database $from_db"
  fi
}

run() {
  local label=$1 scenario=$2 target=$3
  local out server0 postgres0 machine0 start server1 postgres1 machine1 elapsed
  local rps p50 p99 requests non2xx socket_errors server_cpu postgres_cpu wrk_cpu busy iowait
  server0=$(server_ticks) postgres0=$(postgres_ticks) machine0=$(machine_ticks)
  start=$(now_ns)
  out=$(WRITES_SCENARIO=$scenario WRITES_TOKENS="$work/tokens" WRITES_TARGET=$target \
    WRITES_THREADS=$connections wrk -t"$connections" -c"$connections" -d"${seconds}s" \
    --timeout 60s --latency -s bench/lua/writes.lua "http://$address" && times) ||
    { echo "$out" >&2; fail "$engine: $label: wrk failed"; }
  elapsed=$(($(now_ns) - start))
  server1=$(server_ticks) postgres1=$(postgres_ticks) machine1=$(machine_ticks)
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  requests=$(awk '/requests in/ {print $1}' <<<"$out")
  non2xx=$(awk -F: '/Non-2xx or 3xx responses/ {gsub(/ /, "", $2); print $2}' <<<"$out")
  non2xx=${non2xx:-0}
  socket_errors=$(awk '/Socket errors/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' <<<"$out")
  socket_errors=${socket_errors:-0}
  server_cpu=$(cores $((server1 - server0)) "$elapsed")
  postgres_cpu=n/a
  [ "$engine" = postgres ] && postgres_cpu=$(cores $((postgres1 - postgres0)) "$elapsed")
  # The last line of `times`: CPU of the subshell's children, that is of wrk.
  wrk_cpu=$(tail -1 <<<"$out" | awk -v ns="$elapsed" '{
    split($1, u, /[ms]/); split($2, s, /[ms]/)
    printf "%.2f", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) / (ns / 1e9) }')
  busy=$(cores $((${machine1% *} - ${machine0% *})) "$elapsed")
  iowait=$(cores $((${machine1#* } - ${machine0#* })) "$elapsed")
  local errors=$non2xx
  [ "$socket_errors" -gt 0 ] && errors="$non2xx (+$socket_errors socket errors)"
  printf '  %-36s %9s req/s  p50 %9s  p99 %9s  server %s cores  postgres %s  wrk %s  machine busy %s, iowait %s of %s cores  requests %s  non-2xx %s\n' \
    "$label" "${rps:-?}" "${p50:-?}" "${p99:-?}" "$server_cpu" "$postgres_cpu" "$wrk_cpu" "$busy" "$iowait" \
    "$(nproc)" "${requests:-0}" "$errors"
  rows+=("| $engine | $label | ${rps:-?} | ${p50:-?} | ${p99:-?} | $server_cpu | $postgres_cpu | $errors |")
  if [ "${requests:-0}" -eq 0 ]; then fail "$engine: $label: no request completed"; fi
  if [ "$non2xx" -gt 0 ]; then fail "$engine: $label: $non2xx responses were not 2xx"; fi
  if [ "$socket_errors" -gt 0 ]; then fail "$engine: $label: $socket_errors socket errors"; fi
}

# Waits until the server has been (nearly) idle for a second: requests in flight when wrk
# stopped have finished.
settle() {
  local before
  for _ in $(seq 1 30); do
    before=$(server_ticks)
    sleep 1
    [ $(($(server_ticks) - before)) -lt $((clk_tck / 20 + 1)) ] && return
  done
  fail "$engine: the server was still busy 30 s after the load stopped"
}

# What went wrong, from the server's JSON log: failed requests by status, and each distinct
# warning or error with how often it came and its first line.
log_summary() {
  python3 - "$1" <<'EOF'
import collections, json, sys
statuses, warnings, first = collections.Counter(), collections.Counter(), {}
for line in open(sys.argv[1], errors="replace"):
    try:
        entry = json.loads(line)
    except ValueError:
        continue
    status = entry.get("fields", entry).get("status")
    if isinstance(status, int) and status >= 400:
        statuses[status] += 1
    level = entry.get("level", "")
    if level in ("WARN", "ERROR"):
        key = (level, entry.get("message") or entry.get("fields", {}).get("message"),
               entry.get("target"), entry.get("span", {}).get("name"))
        warnings[key] += 1
        first.setdefault(key, line.strip()[:600])
if statuses:
    print("  server log: responses of 400 or more by status:", dict(statuses))
for key, count in warnings.most_common(5):
    print(f"  server log: {count} x {key[0]} {key[1]!r} ({key[2]}, span {key[3]}), first:")
    print("   ", first[key])
EOF
}

for engine in $engines; do
  echo "== $engine: $connections connections, ${seconds}s per scenario, $users users"
  dir="$work/$engine"
  data="$dir/data"
  mkdir -p "$data"
  # Rate limits off: every writer comes from one address.
  settings=(QUIRE_LISTEN=127.0.0.1:0 QUIRE_ADMIN_LISTEN=127.0.0.1:0 QUIRE_DATA_DIR="$data"
    QUIRE_LOG_FORMAT=json QUIRE_RATE_LIMITS=off)
  case $engine in
    sqlite) ;;
    postgres)
      if ! psql -qX -v ON_ERROR_STOP=1 "$postgres_url/postgres" \
        -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" -c "CREATE DATABASE $database"; then
        fail "postgres: cannot create $database at $postgres_url"
        continue
      fi
      settings+=(QUIRE_DATABASE_URL="$postgres_url/$database")
      ;;
    *) echo "unknown engine $engine (sqlite or postgres)" >&2; exit 2 ;;
  esac
  env "${settings[@]}" "$bin" >"$dir/log" 2>&1 &
  pid=$!
  address=
  for _ in $(seq 1 300); do
    address=$(grep -o '"address":"[^"]*"' "$dir/log" | head -1 | cut -d'"' -f4 || true)
    [ -n "$address" ] && break
    alive || break
    sleep 0.1
  done
  if [ -z "$address" ]; then
    tail -20 "$dir/log" >&2
    fail "$engine: the server did not start"
    continue
  fi
  api="http://$address/api"

  seed_start=$(now_ns)
  hot='' commented=''
  read -r hot commented < <(python3 bench/seed_writes.py "$api" "$work" "$users") ||
    { fail "$engine: seeding failed"; }
  if [ -z "${commented:-}" ]; then
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=
    log_summary "$dir/log"
    continue
  fi
  echo "  seeded in $(awk -v ns=$(($(now_ns) - seed_start)) 'BEGIN { printf "%.1f", ns / 1e9 }') s:" \
    "$(db_count "SELECT count(*) FROM posts WHERE status = 'published'") published posts," \
    "$(db_count "SELECT count(*) FROM favorites") favorites, $(db_count "SELECT count(*) FROM follows") follows"

  run "POST /api/articles, one author" posts-one-author ""
  run "POST /api/articles, many authors" posts-many-authors ""
  run "favorite/unfavorite one post" favorites "$hot"
  run "comment on one post" comments "$commented"
  run "follow/unfollow one author" follows star

  settle
  check "articlesCount of /api/articles" "$(api_number "/articles?limit=1" articlesCount)" \
    "$(db_count "SELECT count(*) FROM posts WHERE status = 'published'")"
  check "favoritesCount of the hot post" "$(api_number "/articles/$hot" article.favoritesCount)" \
    "$(db_count "SELECT count(*) FROM favorites WHERE post_id = (SELECT id FROM posts WHERE slug = ?)" "$hot")"
  for tag in common tag7 tag49; do
    check "articlesCount of /api/articles?tag=$tag" \
      "$(api_number "/articles?tag=$tag&limit=1" articlesCount)" \
      "$(db_count "SELECT count(*) FROM posts p JOIN post_tags pt ON pt.post_id = p.id
         JOIN tags t ON t.id = pt.tag_id WHERE t.name = ? AND p.status = 'published'" "$tag")"
  done

  kill -TERM "$pid"
  stop_start=$(now_ns)
  while alive && [ $(($(now_ns) - stop_start)) -lt 60000000000 ]; do sleep 0.1; done
  stopped_in=$(awk -v ns=$(($(now_ns) - stop_start)) 'BEGIN { printf "%.1f", ns / 1e9 }')
  if alive; then
    kill -9 "$pid"
    fail "$engine: the server had not exited 60 s after SIGTERM"
    shutdowns+=("$engine: still running 60 s after SIGTERM, killed")
  else
    exit_status=0
    wait "$pid" || exit_status=$?
    shutdowns+=("$engine: exited ${stopped_in} s after SIGTERM (exit status $exit_status)")
    [ "$exit_status" -eq 0 ] || fail "$engine: the server exited with status $exit_status"
  fi
  echo "  stopped ${stopped_in} s after SIGTERM"
  pid=
  log_summary "$dir/log"
  if [ "$engine" = postgres ] && [ ${#failures[@]} -eq 0 ]; then
    psql -qX "$postgres_url/postgres" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" || true
  fi
done

echo
echo "Write throughput, $connections connections, ${seconds}s per scenario, $(nproc) cores shared with wrk"
echo
echo "| engine | scenario | req/s | p50 | p99 | server CPU (cores) | postgres CPU (cores) | non-2xx |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"
echo
for line in "${shutdowns[@]}"; do echo "- shutdown: $line"; done
if [ ${#failures[@]} -gt 0 ]; then
  echo
  echo "FAILED:"
  printf -- '- %s\n' "${failures[@]}"
  exit 1
fi
