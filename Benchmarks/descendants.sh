#!/usr/bin/env bash
# Time `lineage descendants` on a generated 1,000-commit history: a chain of fine-tunes with a
# quantized side branch every 10 commits and a two-parent merge every 50, each trained on one of
# 20 data digests. Prints a Markdown table row set; progress to stderr.
# Usage: Benchmarks/descendants.sh [--lineage PATH] [--commits N]
set -euo pipefail
N=1000
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$W"
export HOME=$W LINEAGE_AUTHOR="bench <b@example.com>"
"$L" init >/dev/null
digest() { printf 'sha256:%064x' "$1"; }
echo "[bench] generating $N commits" >&2
start=$(date +%s.%N)
prev=""
for i in $(seq 1 "$N"); do
  printf 'step %d\n' "$i" > m.txt
  parents=()
  [ -n "$prev" ] && parents=(--parent "$prev:finetune")
  if [ $((i % 50)) -eq 0 ] && [ -n "$side" ]; then parents+=(--parent "$side:merge"); fi
  id=$("$L" commit m.txt -m "c$i" "${parents[@]}" --data-digest "train=hf://d$((i % 20))=$(digest $((i % 20 + 1)))" \
    --no-environment --no-code --no-sign --json | sed -n 's/.*"commit" *: *"\([0-9a-f]*\)".*/\1/p')
  if [ $((i % 10)) -eq 0 ]; then
    side=$("$L" commit m.txt -m "q$i" --parent "$id:quantize" --branch "q$i" --no-environment --no-code --no-sign --json \
      | sed -n 's/.*"commit" *: *"\([0-9a-f]*\)".*/\1/p')
  fi
  prev=$id
done
[ $((N % 10)) -eq 0 ] || true
echo "[bench] generated in $(echo "$(date +%s.%N) - $start" | bc) s" >&2
root=$("$L" log --json -n 100000 | grep -o '"commit" *: *"[0-9a-f]*"' | tail -1 | grep -o '[0-9a-f]\{64\}')
best() { local b=999; for _ in 1 2 3; do s=$(date +%s.%N); "$@" >/dev/null; t=$(echo "$(date +%s.%N) - $s" | bc); b=$(echo "if ($t < $b) $t else $b" | bc); done; echo "$b"; }
t0=$(best "$L" descendants "$root")
t1=$(best "$L" descendants "$root" --json)
t2=$(best "$L" descendants "$(digest 1)" --json)
count=$("$L" descendants "$root" --json | grep -o '"depth"' | wc -l)
echo "| descendants of the root ($count commits of $(( N + N / 10 )) in the history), text | $t0 s | < 1 s |"
echo "| descendants of the root, --json | $t1 s | < 1 s |"
echo "| descendants of a data digest (roots: every 20th commit) | $t2 s | < 1 s |"
