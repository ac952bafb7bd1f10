#!/usr/bin/env bash
# How long `quire import` takes for POSTS generated Markdown files with YAML frontmatter (real
# paragraphs from ../shared/samples, several languages, tags, series, dates), on the embedded
# SQLite: the first import (every post created, rendered and indexed) and the second (every
# post unchanged).
#
#   bench/import.sh [posts (1000)]
set -euo pipefail
cd "$(dirname "$0")/.."
posts=${1:-1000}
samples=${QUIRE_BENCH_SAMPLES:-../shared/samples}
source bench/lib.sh
quire_binary
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/posts" "$work/data"
python3 - "$samples" "$work/posts" "$posts" <<'PY'
import pathlib, random, re, sys
samples, out, count = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
paragraphs = []
for path in sorted(samples.rglob("*.md")):
    text = path.read_text(errors="replace")
    if text.startswith("---"):
        end = text.find("\n---", 3)
        text = text[end + 4:] if end > 0 else text
    paragraphs += [p.strip() for p in re.split(r"\n\s*\n", text) if len(p.strip()) > 80]
rng = random.Random(3)
for i in range(count):
    body = "\n\n".join(rng.sample(paragraphs, rng.randint(3, 12)))
    header = (f"---\ntitle: \"Generated post {i}\"\npublished: 2025-{1 + i % 12:02d}-{1 + i % 28:02d}\n"
              f"description: \"Post {i} of the import benchmark\"\ntags: [bench, tag{i % 25}]\n"
              f"category: Bench\nlang: {['en', 'ko', 'ja'][i % 3]}\n"
              f"series:\n  name: \"Series {i % 40}\"\n  order: {i // 40 + 1}\ndraft: {'true' if i % 10 == 0 else 'false'}\n---\n\n")
    (out / f"post-{i:05d}.md").write_text(header + body + "\n")
PY
env -i PATH="$PATH" QUIRE_DATA_DIR="$work/data" "$bin" user create --username bench --email bench@example.com >/dev/null
for round in first second; do
  start=$(date +%s.%N)
  summary=$(env -i PATH="$PATH" QUIRE_DATA_DIR="$work/data" "$bin" import --author bench "$work/posts" | head -1)
  took=$(echo "$(date +%s.%N) - $start" | bc)
  printf '%-7s import of %s files: %6.2f s  (%s)\n' "$round" "$posts" "$took" "$summary"
done
