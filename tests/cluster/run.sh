#!/usr/bin/env bash
# The cluster harness: many stateless quire instances behind nginx on this machine's loopback.
#
#   tests/cluster/run.sh [scenario ...]      (scenarios: realworld, convergence; default: all)
#
# Starts, on a fresh PostgreSQL database and a Redis prefix of its own: three
# `quire serve --role api`, two `quire worker`, and nginx (from Debian's packages, installed
# when missing) as the round-robin load balancer; runs each scenario through it; prints a table
# of results; stops everything and drops what it created. Every load is bounded in count and
# time. The services it needs come from the environment (defaults: this machine's):
#
#   QUIRE_CLUSTER_POSTGRES_URL  postgres://postgres@127.0.0.1:5432/postgres
#   QUIRE_CLUSTER_REDIS_URL     redis://127.0.0.1:6379/
#   QUIRE_CLUSTER_NATS_URL      nats://127.0.0.1:4222   (or QUIRE_CLUSTER_AMQP_URL for RabbitMQ)
#   QUIRE_SHARED_DIR            ../shared (the RealWorld Hurl suite)
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quire-target}"

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
fi
# The package starts a default server on port 80; the harness runs its own.
if command -v systemctl >/dev/null && systemctl is-active --quiet nginx 2>/dev/null; then
  systemctl stop nginx || true
fi
cargo build --release --locked --bin quire
exec python3 tests/cluster/cluster.py --quire "$CARGO_TARGET_DIR/release/quire" "$@"
