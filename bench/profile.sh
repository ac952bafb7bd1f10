#!/usr/bin/env bash
# Where a scenario's time goes: loads one path of a server on bench/load.sh's seeded data
# with wrk (64 connections) while `perf record` samples the server, then prints the share
# of the server's CPU by shared object and the top functions, and the CPU the server and
# PostgreSQL used against the two cores.
#
#   bench/profile.sh POSTS [sqlite|postgres] PATH [seconds]
#
# Needs the seed from `bench/load.sh POSTS ENGINE` and perf (Debian's linux-perf; installed
# when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
posts=${1:?usage: bench/profile.sh POSTS [sqlite|postgres] PATH [seconds]}
engine=${2:-sqlite}
path=${3:-/api/articles}
seconds=${4:-10}
source bench/lib.sh
need_wrk
command -v perf >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf
quire_binary
store=${QUIRE_BENCH_DATA:-$HOME/.cache/quire-bench}
seeded="$store/$engine-$posts"
[ -f "$seeded/seeded" ] || { echo "no seed: run bench/load.sh $posts $engine first" >&2; exit 1; }
work=$(mktemp -d)
trap 'stop_quire 2>/dev/null || true; rm -rf "$work"' EXIT
cp -r "$seeded/." "$work/"
if [ "$engine" = postgres ]; then
  pg_url=${QUIRE_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  export QUIRE_DATABASE_URL="${pg_url%/*}/quire_bench_$posts"
  export QUIRE_DATABASE_POOL_SIZE=${QUIRE_DATABASE_POOL_SIZE:-16}
fi
export QUIRE_CACHE=${QUIRE_CACHE:-off}
start_quire "$bin" "$work"
until curl -sf "http://$address/readyz" >/dev/null; do sleep 0.05; done
wrk -t2 -c64 -d3s "http://$address$path" >/dev/null # warm-up
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
pg_cpu() { ps -C postgres -o times= | awk '{s += $1} END {print s + 0}'; }
server_before=$(cpu "$pid"); pg_before=$(pg_cpu)
perf record -q -e cpu-clock -F 999 -g -p "$pid" -o "$work/perf.data" -- sleep "$seconds" 2>/dev/null &
recorder=$!
wrk -t2 -c64 -d"${seconds}s" --latency "http://$address$path" | grep -E 'Requests/sec|99%'
wait "$recorder" || true
ticks=$(getconf CLK_TCK)
echo "server CPU: $(( ($(cpu "$pid") - server_before) * 100 / ticks / seconds ))% of one core; PostgreSQL: $(( ($(pg_cpu) - pg_before) * 100 / seconds ))% (of 200% on two cores)"
echo "-- by shared object"
perf report -i "$work/perf.data" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' \
  | awk '{print $1, $2}' | head -8
echo "-- top functions"
perf report -i "$work/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null \
  | grep -E '^ +[0-9]' | awk '{print $1, $2, $3}' | head -25
