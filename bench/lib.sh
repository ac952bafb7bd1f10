# Sourced by the bench scripts: the release binary to measure, and wrk when asked for.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quire-target}"

# Sets `bin` to $QUIRE_BIN, or to a release build of quire made now.
quire_binary() {
  if [ -n "${QUIRE_BIN:-}" ]; then
    bin=$QUIRE_BIN
  else
    cargo build --release --locked --bin quire
    bin="$CARGO_TARGET_DIR/release/quire"
  fi
}

# Installs wrk with apt when it is missing.
need_wrk() {
  if ! command -v wrk >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk
  fi
}

# Starts quire binary $1 on data directory $2 (its log in $2/log) on a free loopback port;
# sets `pid` and `address`, or prints the log and exits. Rate limits are off unless
# QUIRE_RATE_LIMITS says otherwise: the load comes from one address, and the benchmarks
# measure serving, not refusing.
start_quire() {
  QUIRE_LISTEN=127.0.0.1:0 QUIRE_DATA_DIR="$2" QUIRE_LOG_FORMAT=json QUIRE_LOG=warn,quire=info \
    QUIRE_RATE_LIMITS="${QUIRE_RATE_LIMITS:-off}" \
    "$1" >"$2/log" 2>&1 &
  pid=$!
  address=
  for _ in $(seq 1 200); do
    address=$(grep -o '"address":"[^"]*"' "$2/log" | head -1 | cut -d'"' -f4 || true)
    [ -n "$address" ] && break
    sleep 0.1
  done
  [ -n "$address" ] || { cat "$2/log" >&2; exit 1; }
}

# Stops the quire that start_quire started, and waits for it.
stop_quire() {
  kill "$pid"; wait "$pid" 2>/dev/null || true
  pid=
}
