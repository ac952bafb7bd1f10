#!/usr/bin/env bash
# A soak: a mixed load of reads and writes (bench/lua/mixed.lua, 64 connections) for SECONDS,
# sampling the server's own resident memory (RssAnon) and open file descriptors every few seconds. After
# the warm-up (the first quarter), both must stay flat: the last quarter's mean memory within
# 10% of the second quarter's, and the last quarter's most descriptors within 8 of the
# second quarter's most. Every answer must be a 2xx, and the server ready at the end.
#
#   bench/soak.sh SECONDS [sqlite|postgres]
#
# CI runs the short form (60 s on each engine); the long form is 1800 s. On PostgreSQL the
# database is $QUIRE_BENCH_POSTGRES_URL's server (default the local one), a fresh database
# dropped at the end. Writes the samples to bench/results/soak-DATE-ENGINE-SECONDS.csv when
# SOAK_KEEP=1, and exits non-zero with the reason when the soak fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
seconds=${1:?usage: bench/soak.sh SECONDS [sqlite|postgres]}
engine=${2:-sqlite}
source bench/lib.sh
need_wrk
quire_binary
work=$(mktemp -d)
pg_url=${QUIRE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
database="quire_soak_$$"
cleanup() {
  [ -n "${load:-}" ] && kill "$load" 2>/dev/null
  stop_quire 2>/dev/null || true
  [ "$engine" = postgres ] && psql -qAt "$pg_url" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$engine" = postgres ]; then
  psql -qAt "$pg_url" -c "CREATE DATABASE $database"
  export QUIRE_DATABASE_URL="${pg_url%/*}/$database"
fi
QUIRE_DATA_DIR="$work" QUIRE_LOG=warn "$bin" seed --posts 2000 >/dev/null
start_quire "$bin" "$work"
until curl -sf "http://$address/readyz" >/dev/null; do sleep 0.05; done
login=$(curl -sf "http://$address/api/users/login" -H 'Content-Type: application/json' \
  -d '{"user":{"email":"user1@example.com","password":"quiet harbour lantern at dawn"}}')
export LOAD_TOKEN
LOAD_TOKEN=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["user"]["token"])' <<<"$login")
export LOAD_SLUG=seeded-post-1999

LOAD_TOKEN=$LOAD_TOKEN wrk -t2 -c64 -d"${seconds}s" -s bench/lua/mixed.lua "http://$address" \
  >"$work/wrk.out" 2>&1 &
load=$!
samples="$work/samples.csv"
echo "second,rss_kib,fds" >"$samples"
started=$(date +%s)
step=$(( seconds >= 600 ? 10 : 2 ))
while kill -0 "$load" 2>/dev/null; do
  # The server's own memory: VmRSS would also count the pages of the memory-mapped SQLite
  # file, which grow with the data the soak writes.
  rss=$(awk '/RssAnon/ {print $2}' "/proc/$pid/status")
  fds=$(ls "/proc/$pid/fd" | wc -l)
  echo "$(($(date +%s) - started)),$rss,$fds" >>"$samples"
  sleep "$step"
done
load=
cat "$work/wrk.out"
curl -sf "http://$address/readyz" >/dev/null || { echo "soak: the server is not ready after the load" >&2; exit 1; }
if [ "${SOAK_KEEP:-0}" = 1 ]; then
  cp "$samples" "$root/bench/results/soak-$(date -u +%Y-%m-%d)-$engine-$seconds.csv"
fi
python3 - "$samples" "$work/wrk.out" <<'PY'
import re, sys
rows = [list(map(int, line.split(","))) for line in open(sys.argv[1]).read().split()[1:]]
out = open(sys.argv[2]).read()
requests = int(re.search(r"(\d+) requests in", out).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errors = re.search(r"Socket errors: (.*)", out)
if len(rows) < 8:
    sys.exit(f"soak: only {len(rows)} samples; run it longer")
q = len(rows) // 4
second, last = rows[q:2 * q], rows[-q:]
mean = lambda xs: sum(xs) / len(xs)
rss_then, rss_now = mean([r[1] for r in second]) / 1024, mean([r[1] for r in last]) / 1024
fds_then, fds_now = max(r[2] for r in second), max(r[2] for r in last)
print(f"soak: {requests} requests; memory {rss_then:.1f} -> {rss_now:.1f} MiB (peak "
      f"{max(r[1] for r in rows) / 1024:.1f}); descriptors {fds_then} -> {fds_now}")
problems = []
if bad:
    problems.append(f"{bad.group(1)} answers were not 2xx")
if errors:
    problems.append(f"socket errors: {errors.group(1)}")
if rss_now > rss_then * 1.10:
    problems.append(f"memory grew {rss_now / rss_then - 1:.0%} after the warm-up")
if fds_now > fds_then + 8:
    problems.append(f"open descriptors grew from {fds_then} to {fds_now}")
if problems:
    sys.exit("soak failed: " + "; ".join(problems))
print("soak: flat")
PY
