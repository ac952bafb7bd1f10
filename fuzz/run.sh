#!/usr/bin/env bash
# Coverage-guided fuzzing of the request-body parsers and the import format, for SECONDS per
# target (default 180): the long form of the reliability suites. Installs cargo-fuzz when
# missing; the toolchain is the stable one, with RUSTC_BOOTSTRAP for the sanitizer flags.
# A crash leaves its input in fuzz/artifacts/TARGET/ and fails the run.
#
#   fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-180}
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/quire-target}/fuzz"
export RUSTC_BOOTSTRAP=1
cargo fuzz --version >/dev/null 2>&1 || cargo install --locked cargo-fuzz@0.13.2
for target in request_bodies frontmatter; do
  mkdir -p "corpus/$target"
  echo "== $target, $seconds s"
  log=$(mktemp)
  if ! cargo fuzz run --sanitizer none "$target" "corpus/$target" -- -max_total_time="$seconds" \
    -rss_limit_mb=4096 -max_len=65536 >"$log" 2>&1; then
    tail -60 "$log" >&2
    echo "fuzz: $target failed; the input is in fuzz/artifacts/$target" >&2
    exit 1
  fi
  grep -E '^#[0-9]+ +(DONE|pulse)|^Done' "$log" | tail -2
  rm -f "$log"
done
echo "fuzz: no crashes"
