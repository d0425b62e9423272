#!/usr/bin/env bash
# Time the pre-push gate on a code repository with 10,000 commits: push one new commit that adds
# a model file held by a signed lineage commit (the gate reads it, checks the policy, allows it),
# against the same push with the gate uninstalled. Prints Markdown rows; progress to stderr.
# Usage: Benchmarks/prepush.sh [--lineage PATH] [--commits N]
set -euo pipefail
N=10000
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
export HOME=$W GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@example.com
cd "$W"
git init -q --bare remote.git
git init -q -b main code
cd code
echo "[bench] $N commits through git fast-import" >&2
{
  for i in $(seq 1 "$N"); do
    printf 'commit refs/heads/main\ncommitter b <b@example.com> %d +0000\ndata <<E\nc%d\nE\n' $((1700000000 + i)) "$i"
    [ "$i" -gt 1 ] || true
    printf 'M 644 inline src/f%d.py\ndata <<E\nprint(%d)\nE\n\n' $((i % 500)) "$i"
  done
} | git fast-import --quiet
git checkout -q main
git remote add origin ../remote.git
git push -q origin main
"$L" init >/dev/null
"$L" keygen --file "$W/key" --trust b@example.com >/dev/null
"$L" config user.signingKey "$W/key"
printf '.lineage/\n' > .gitignore
printf '[policy]\nrequire_signature = true\nrequire_data = true\n' > lineage.toml
"$L" fixture generate model.safetensors --size 8MiB --seed 1 >/dev/null
"$L" commit model.safetensors -m model --data-digest "train=hf://d=sha256:$(printf '%064x' 7)" --no-environment --no-code >/dev/null
git add -A && git commit -qm "add model"
"$L" hooks install >/dev/null
best() { local b=999; for _ in 1 2 3; do s=$(date +%s.%N); "$@" >/dev/null 2>&1; t=$(echo "$(date +%s.%N) - $s" | bc); b=$(echo "if ($t < $b) $t else $b" | bc); done; echo "$b"; }
# --dry-run still runs pre-push; the remote is left unchanged so each run pushes the same commit.
with=$(best git push -q --dry-run origin main)
hook=$(best sh -c "printf 'refs/heads/main %s refs/heads/main %s\n' \$(git rev-parse HEAD) \$(git rev-parse origin/main) | '$L' hook pre-push origin ../remote.git")
mv .git/hooks/pre-push .git/hooks/pre-push.off
without=$(best git push -q --dry-run origin main)
echo "| git push of 1 commit (8 MiB model) on a $N-commit repo, with the gate | $with s (without: $without s) | ≤ 1 s |"
echo "| lineage hook pre-push alone for that push | $hook s | ≤ 1 s |"
