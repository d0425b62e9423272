#!/usr/bin/env bash
# How much a fine-tuned child adds to the store, as a function of the step size.
#
# For each dtype and step scale: `lineage fixture derive` adds scale × 0.02 × N(0,1) to every
# value of a seeded base (weights N(0, 0.02²), so `scale` is the step's size relative to the
# weights' scale), the child is committed with `--parent base`, and the table gives
#   - the share of values the step actually changed (numpy),
#   - what the child adds to the store (`lineage du --json`: new_stored_bytes / logical_bytes),
#   - the entropy bound: the empirical entropy of each element's ulp distance to its parent
#     given the parent element's exponent (one histogram per exponent over the file), divided
#     by the element's bits. The added noise is independent of everything in the parent, so no
#     lossless coder that sees only the parent and the child can store the child in fewer bits
#     (up to the histogram's estimation error, which is small at these sizes).
# See Docs/Benchmarks.md, "Child size against step size".
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: Benchmarks/steps.sh [--size 64MiB] [--lineage PATH] [--work DIR]
                           [--bf16 "0.005 0.01 ..."] [--f32 "0.00001 0.0001 ..."]

  --size SIZE     base checkpoint size per dtype (default 64MiB; the ratios do not depend on it)
  --lineage PATH  lineage binary (default: .build/release/lineage in the repo root)
  --work DIR      scratch parent; the run uses DIR/steps-PID, removed on exit
                  (default Benchmarks/work)
  --bf16 LIST     step scales for BF16 (default "0.005 0.01 0.02 0.05 0.1 0.2")
  --f32 LIST      step scales for F32 (default "0.00001 0.0001 0.0003 0.001 0.003 0.01")

Prints a Markdown table per dtype on stdout; progress on stderr. Needs python3 (numpy goes into
the cached venv Benchmarks/work/.venv-steps on first use).
EOF
}

die() { printf 'steps.sh: error: %s\n' "$*" >&2; exit 1; }
log() { printf '[steps %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=64MiB
LINEAGE=$ROOT/.build/release/lineage
WORK_PARENT=$ROOT/Benchmarks/work
BF16_SCALES="0.005 0.01 0.02 0.05 0.1 0.2"
F32_SCALES="0.00001 0.0001 0.0003 0.001 0.003 0.01"
while [ $# -gt 0 ]; do
  case $1 in
    --size) [ $# -ge 2 ] || die "--size needs a value"; SIZE=$2; shift 2 ;;
    --lineage) [ $# -ge 2 ] || die "--lineage needs a value"; LINEAGE=$2; shift 2 ;;
    --work) [ $# -ge 2 ] || die "--work needs a value"; WORK_PARENT=$2; shift 2 ;;
    --bf16) [ $# -ge 2 ] || die "--bf16 needs a value"; BF16_SCALES=$2; shift 2 ;;
    --f32) [ $# -ge 2 ] || die "--f32 needs a value"; F32_SCALES=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done
[ -x "$LINEAGE" ] || die "lineage binary not found at $LINEAGE; run \`swift build -c release\` first (or pass --lineage PATH)"
command -v python3 >/dev/null || die "python3 is needed (apt-get install python3 python3-venv)"

NUMPY_VERSION=2.2.6
VENV=$ROOT/Benchmarks/work/.venv-steps
if [ "$(cat "$VENV/.pins" 2>/dev/null)" != "numpy==$NUMPY_VERSION" ]; then
  log "creating $VENV with numpy==$NUMPY_VERSION"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  python3 -m venv "$VENV" || die "cannot create a venv at $VENV (apt-get install python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "numpy==$NUMPY_VERSION" >&2 || { rm -rf "$VENV"; die "pip install numpy failed"; }
  echo "numpy==$NUMPY_VERSION" >"$VENV/.pins"
fi
PY=$VENV/bin/python

mkdir -p "$WORK_PARENT"
RUN=$(cd "$WORK_PARENT" && pwd)/steps-$$
mkdir -p "$RUN"
trap 'rm -rf "$RUN"' EXIT
export LINEAGE_AUTHOR="bench <bench@example.com>"

# changed share, and the entropy bound H(ulp distance | parent exponent) / element bits.
cat >"$RUN/bound.py" <<'EOF'
import json, mmap, struct, sys
import numpy as np
def load(path):
    f = open(path, "rb"); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    n = struct.unpack("<Q", m[:8])[0]; h = json.loads(m[8:8 + n]); h.pop("__metadata__", None)
    return m, 8 + n, h
a, oa, ha = load(sys.argv[1]); b, ob, hb = load(sys.argv[2])
assert ha.keys() == hb.keys(), "tensor names differ"
# (unsigned type, bits, mantissa bits, exponent mask)
kinds = {"BF16": (np.uint16, 16, 7, 0xFF), "F16": (np.uint16, 16, 10, 0x1F), "F32": (np.uint32, 32, 23, 0xFF)}
keys = []; elems = changed = 0; bits = None
for k, v in ha.items():
    ut, w, m, em = kinds[v["dtype"]]; bits = w
    s, e = v["data_offsets"]; s2, _ = hb[k]["data_offsets"]; n = (e - s) // (w // 8)
    x = np.frombuffer(a, ut, n, oa + s).astype(np.int64); y = np.frombuffer(b, ut, n, ob + s2).astype(np.int64)
    elems += n; changed += int(np.count_nonzero(x != y))
    top = 1 << (w - 1)
    # Codec 4's key: the top bit set inverts every other bit; read as signed, it orders values.
    def key(t):
        t = np.where(t & top, t ^ (top - 1), t)
        return np.where(t & top, t - (1 << w), t)
    d = key(y) - key(x)
    exponent = (x >> m) & em
    keys.append(exponent * (1 << 40) + (d + (1 << 39)))
joint = np.concatenate(keys)
_, counts = np.unique(joint, return_counts=True)
p = counts / counts.sum()
h = float(-(p * np.log2(p)).sum())  # H(exponent, d)
_, ecounts = np.unique(joint >> 40, return_counts=True)
pe = ecounts / ecounts.sum()
he = float(-(pe * np.log2(pe)).sum())  # H(exponent)
print(f"{100 * changed / elems:.2f} {(h - he) / bits:.3f}")
EOF

sweep() {
  local dt=$1 scales=$2 d=$RUN/$1
  mkdir -p "$d"
  log "$dt: base ($SIZE)"
  "$LINEAGE" fixture generate "$d/base.safetensors" --size "$SIZE" --dtype "$dt" --seed 1 >/dev/null
  echo
  echo "### $dt"
  echo
  echo "| step scale (step σ / weights' σ) | values changed | child adds | entropy bound | ≤ 0.50× |"
  echo "| --- | --- | --- | --- | --- |"
  local s i=0
  for s in $scales; do
    i=$((i + 1))
    log "$dt: scale $s"
    local store=$d/store-$i child=$d/child-$i.safetensors
    "$LINEAGE" fixture derive "$d/base.safetensors" "$child" --fraction 1 --scale "$s" --seed 3 >/dev/null
    mkdir -p "$store"
    "$LINEAGE" init "$store" >/dev/null
    "$LINEAGE" commit -C "$store" "$d/base.safetensors" -m base --tag base --no-environment >/dev/null
    "$LINEAGE" commit -C "$store" "$child" -m child --tag child --parent base --no-environment >/dev/null
    local adds bound_line pct bound
    adds=$("$LINEAGE" du -C "$store" --json | "$PY" -c 'import json,sys
d = json.load(sys.stdin); c = [c for c in d["commits"] if c["message"] == "child"][0]
print("%.3f" % (c["new_stored_bytes"] / c["logical_bytes"]))')
    bound_line=$("$PY" "$RUN/bound.py" "$d/base.safetensors" "$child")
    pct=${bound_line% *}
    bound=${bound_line#* }
    local verdict=pass
    awk -v a="$adds" 'BEGIN { exit !(a > 0.5) }' && verdict="**no**"
    echo "| $s | $pct% | ${adds}× raw | ${bound}× raw | $verdict |"
    rm -rf "$store" "$child"
  done
}

echo "Generated by \`Benchmarks/steps.sh --size $SIZE\` on $(date +%Y-%m-%d) ($("$LINEAGE" --version))."
sweep BF16 "$BF16_SCALES"
sweep F32 "$F32_SCALES"
