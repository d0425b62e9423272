# Shared by the small benchmark scripts: parse `--lineage PATH` and `--commits N` into L and N
# (defaults: the release build, and the N the script set), and make a scratch directory W that
# is removed on exit.
ROOT=$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)
L=$ROOT/.build/release/lineage
while [ $# -gt 0 ]; do
  case $1 in
    --lineage) L=$2; shift 2 ;;
    --commits) N=$2; shift 2 ;;
    *) echo "usage: $0 [--lineage PATH] [--commits N]" >&2; exit 64 ;;
  esac
done
W=$(mktemp -d /tmp/lineage-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
