#!/usr/bin/env bash
# lineage benchmark harness: measures lineage against openssl, sha256sum, cp, zstd, dvc,
# git-lfs and plain git on seeded synthetic checkpoints, and prints a Markdown section with
# one table per dtype (metric | measured | target | pass/fail). See Benchmarks/README.md.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: Benchmarks/run.sh [--size 1GiB] [--lineage PATH] [--runs 3] [--skip-git]
                         [--work DIR] [--update-docs FILE]

  --size SIZE         checkpoint size per dtype, as lineage fixture reads it (default 1GiB)
  --lineage PATH      lineage binary (default: .build/release/lineage in the repo root)
  --runs N            runs per timing; the median is reported (default 3; plain git: 1 run)
  --skip-git          skip the plain `git add && git commit` comparison (slow: ~1 min/GiB)
  --work DIR          scratch parent; the run uses DIR/run-PID, removed on exit
                      (default Benchmarks/work)
  --update-docs FILE  also replace the text between <!-- bench:start --> and
                      <!-- bench:end --> in FILE with the results (markers appended if missing)

The Markdown section goes to stdout; progress goes to stderr.
EOF
}

die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }
log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZE=1GiB
LINEAGE_SRC=$ROOT/.build/release/lineage
RUNS=3
SKIP_GIT=0
WORK_PARENT=$ROOT/Benchmarks/work
UPDATE_DOCS=

while [ $# -gt 0 ]; do
  case $1 in
    --size) [ $# -ge 2 ] || die "--size needs a value"; SIZE=$2; shift 2 ;;
    --lineage) [ $# -ge 2 ] || die "--lineage needs a value"; LINEAGE_SRC=$2; shift 2 ;;
    --runs) [ $# -ge 2 ] || die "--runs needs a value"; RUNS=$2; shift 2 ;;
    --skip-git) SKIP_GIT=1; shift ;;
    --work) [ $# -ge 2 ] || die "--work needs a value"; WORK_PARENT=$2; shift 2 ;;
    --update-docs) [ $# -ge 2 ] || die "--update-docs needs a value"; UPDATE_DOCS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "--runs must be a positive integer, got '$RUNS'"
# Sizes as lineage reads them: a number with GiB/MiB/KiB/G/M/K/B, or plain bytes.
SIZE_BYTES=$(awk -v s="$SIZE" 'BEGIN {
  n = split("GiB MiB KiB G M K B", u, " "); split("1073741824 1048576 1024 1073741824 1048576 1024 1", m, " ")
  for (i = 1; i <= n; i++) if (length(s) > length(u[i]) && substr(s, length(s) - length(u[i]) + 1) == u[i]) {
    v = substr(s, 1, length(s) - length(u[i])); if (v ~ /^[0-9]+(\.[0-9]+)?$/ && v > 0) { printf "%d\n", v * m[i]; exit } else exit }
  if (s ~ /^[0-9]+$/ && s > 0) print s }')
[ -n "$SIZE_BYTES" ] || die "cannot read --size '$SIZE'; use e.g. 64MiB or 1GiB"

if [ ! -e "$LINEAGE_SRC" ]; then
  die "lineage binary not found at $LINEAGE_SRC; run \`swift build -c release\` first (or pass --lineage PATH)"
fi
[ -x "$LINEAGE_SRC" ] || die "$LINEAGE_SRC is not executable"
LINEAGE_SRC=$(cd "$(dirname "$LINEAGE_SRC")" && pwd)/$(basename "$LINEAGE_SRC")
if [ -n "$UPDATE_DOCS" ]; then
  mkdir -p "$(dirname "$UPDATE_DOCS")" || die "cannot create the directory of $UPDATE_DOCS"
  UPDATE_DOCS=$(cd "$(dirname "$UPDATE_DOCS")" && pwd)/$(basename "$UPDATE_DOCS")
fi

# ---------------------------------------------------------------------------------------------
# Tools: apt for git-lfs, zstd, time (and the basics); a cached venv for dvc and numpy.
DVC_VERSION=3.67.1
NUMPY_VERSION=2.2.6
VENV=$ROOT/Benchmarks/work/.venv
TIME=/usr/bin/time

apt_install() {
  local sudo=
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "need root (or sudo) to apt-get install: $*"
    sudo=sudo
  fi
  command -v apt-get >/dev/null || die "apt-get not found; install by hand: $*"
  log "apt-get install $*"
  $sudo apt-get update -qq >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >&2 || die "apt-get install $* failed"
}

missing=()
command -v git >/dev/null || missing+=(git)
command -v git-lfs >/dev/null || missing+=(git-lfs)
command -v zstd >/dev/null || missing+=(zstd)
[ -x "$TIME" ] || missing+=(time)
command -v openssl >/dev/null || missing+=(openssl)
command -v cmp >/dev/null || missing+=(diffutils)
command -v python3 >/dev/null || missing+=(python3)
[ ${#missing[@]} -eq 0 ] || apt_install "${missing[@]}"

PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
venv_ok() {
  [ -x "$VENV/bin/python" ] && [ -x "$VENV/bin/dvc" ] &&
    [ "$(cat "$VENV/.pins" 2>/dev/null)" = "dvc==$DVC_VERSION numpy==$NUMPY_VERSION" ]
}
if ! venv_ok; then
  log "creating $VENV with dvc==$DVC_VERSION numpy==$NUMPY_VERSION (about a minute)"
  rm -rf "$VENV"
  mkdir -p "$(dirname "$VENV")"
  if ! "$PY" -m venv "$VENV" >/dev/null 2>&1; then
    rm -rf "$VENV"
    apt_install python3-venv
    "$PY" -m venv "$VENV" || die "cannot create a venv at $VENV"
  fi
  "$VENV/bin/pip" install -q --disable-pip-version-check "dvc==$DVC_VERSION" "numpy==$NUMPY_VERSION" >&2 ||
    { rm -rf "$VENV"; die "pip install dvc==$DVC_VERSION numpy==$NUMPY_VERSION failed"; }
  echo "dvc==$DVC_VERSION numpy==$NUMPY_VERSION" >"$VENV/.pins"
fi
DVC=$VENV/bin/dvc
VPY=$VENV/bin/python

# ---------------------------------------------------------------------------------------------
# Work directory (removed on exit) and environment.
mkdir -p "$WORK_PARENT" || die "cannot create --work $WORK_PARENT"
WORK_PARENT=$(cd "$WORK_PARENT" && pwd)
RUN=$WORK_PARENT/run-$$
[ ! -e "$RUN" ] || die "$RUN already exists"
mkdir -p "$RUN/t" "$RUN/bin"
cleanup() { rm -rf "$RUN"; }
trap cleanup EXIT
trap 'die "interrupted"' INT TERM
trap 'printf "run.sh: error: command failed (line %s): %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

# Pin the binary for the whole run: the build at --lineage may be replaced while we run.
cp "$LINEAGE_SRC" "$RUN/bin/lineage"
LINEAGE=$RUN/bin/lineage
"$LINEAGE" --version >/dev/null 2>&1 || die "$LINEAGE_SRC does not run"

# Per dtype at peak: 3 fixtures, a store (~1.5x), and one tool's repo (~2x).
need=$((SIZE_BYTES * 8))
avail=$(df --output=avail -B1 "$RUN" | tail -n1 | tr -d ' ')
[ "$avail" -ge "$need" ] ||
  die "need about $((need >> 20)) MiB free under $WORK_PARENT for --size $SIZE, have $((avail >> 20)) MiB"

export LINEAGE_AUTHOR='lineage bench <bench@example.invalid>'
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null # the user's git config must not skew results
export DVC_NO_ANALYTICS=1
GIT_ID=(-c user.name=bench -c user.email=bench@example.invalid -c init.defaultBranch=main)
export LC_ALL=C

# ---------------------------------------------------------------------------------------------
# Measurement helpers. Every timing: flush earlier writes (sync), warm the page cache with the
# inputs, then run under /usr/bin/time (peak RSS, %M) with the wall time taken around it in
# nanoseconds (/usr/bin/time's %e has only 10 ms resolution, too coarse for small --size runs).
# Each run appends "seconds peak_kb" to $RUN/t/NAME.
timeit() {
  local name=$1 t0 t1
  shift
  t0=$(date +%s%N)
  if ! "$TIME" -f '%M' -o "$RUN/time.out" "$@" >"$RUN/cmd.out" 2>"$RUN/cmd.err"; then
    cat "$RUN/cmd.err" >&2
    die "command failed: $*"
  fi
  t1=$(date +%s%N)
  echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }') $(tail -n1 "$RUN/time.out")" >>"$RUN/t/$name"
}
prep() { sync; cat "$@" >/dev/null; }
# median_ratio A B: the median of the per-run ratios A_i / B_i of two timings taken in pairs.
median_ratio() {
  paste -d' ' <(cut -d' ' -f1 "$RUN/t/$1") <(cut -d' ' -f1 "$RUN/t/$2") | awk '{ print $1 / $2 }' | sort -g | awk '{a[NR] = $1} END {
    if (NR == 0) exit 1; if (NR % 2) printf "%.2f\n", a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
median() {
  sort -k1,1g "$RUN/t/$1" | awk '{a[NR] = $1} END {
    if (NR == 0) exit 1; if (NR % 2) print a[(NR + 1) / 2]; else printf "%.4f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
peak_mib() { # peak RSS in MiB over every run of the named timings
  local f files=()
  for f in "$@"; do files+=("$RUN/t/$f"); done
  awk 'BEGIN {m = 0} {if ($2 > m) m = $2} END {printf "%.0f\n", m / 1024}' "${files[@]}"
}
calc() { awk "BEGIN { printf \"$1\n\", $2 }"; }          # calc FORMAT EXPR
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "inf" }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "inf" && a + 0 <= b + 0) }'; } # a <= b
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
secs() { awk -v t="$1" 'BEGIN { printf (t < 1 ? "%.3f s" : "%.2f s"), t }'; } # absolute seconds
mib() { calc '%.1f MiB' "$1 / 1048576"; }
verdict() { if "$@"; then echo pass; else echo "**FAIL**"; fi; }
json() { "$VPY" -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
# du_field DU_JSON COMMIT FIELD: a per-commit field of `lineage du --json`.
du_field() {
  "$VPY" -c 'import json,sys; d=json.load(open(sys.argv[1]))
print(next(c for c in d["commits"] if c["commit"] == sys.argv[2])[sys.argv[3]])' "$@"
}

PASSES=0
FAILS=0
ROWS=
row() { # metric | measured | target | verdict
  ROWS+="| $1 | $2 | $3 | $4 |"$'\n'
  case $4 in pass) PASSES=$((PASSES + 1)) ;; *FAIL*) FAILS=$((FAILS + 1)) ;; esac
}

# Share of elements / tensors that differ between two safetensors files, for the notes.
cat >"$RUN/changed.py" <<'EOF'
import json, mmap, struct, sys
import numpy as np
def load(path):
    f = open(path, "rb"); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    n = struct.unpack("<Q", m[:8])[0]; h = json.loads(m[8:8 + n]); h.pop("__metadata__", None)
    return m, 8 + n, h
a, oa, ha = load(sys.argv[1]); b, ob, hb = load(sys.argv[2])
assert ha.keys() == hb.keys(), "tensor names differ"
width = {"BF16": np.uint16, "F16": np.uint16, "F32": np.uint32, "F64": np.uint64}
elems = changed = tensors = 0
for k, v in ha.items():
    dt = np.dtype(width.get(v["dtype"], np.uint8)); s, e = v["data_offsets"]; s2, _ = hb[k]["data_offsets"]
    x = np.frombuffer(a, dt, (e - s) // dt.itemsize, oa + s); y = np.frombuffer(b, dt, (e - s) // dt.itemsize, ob + s2)
    d = int(np.count_nonzero(x != y)); elems += x.size; changed += d; tensors += d > 0
print(f"{100 * changed / elems:.2f}% of elements ({changed}/{elems}), {tensors}/{len(ha)} tensors")
EOF

# smallstep scale per dtype. F32: 0.01 changes ~100% of values. BF16 has an 8-bit significand,
# so at 0.01 only ~83% of matrix values (and no norm value) change; 0.2 is the smallest scale
# that changes >= 99% of all values (measured with numpy, reported in the notes every run).
declare -A SMALL_SCALE=([BF16]=0.2 [F32]=0.01)
# A realistic small training step (2% / 0.1% of the weights' scale): most values change, by a
# few units in the last place. Reported next to the every-value case, with numpy's count.
declare -A STEP_SCALE=([BF16]=0.02 [F32]=0.001)
declare -A STORED_TARGET=([BF16]=0.72 [F32]=0.90)

# ---------------------------------------------------------------------------------------------
bench_dtype() {
  local dt=$1 d=$RUN/$1 r
  local base=$d/base.safetensors child5=$d/child5.safetensors small=$d/smallstep.safetensors
  local step=$d/step.safetensors
  local scale=${SMALL_SCALE[$dt]} stepscale=${STEP_SCALE[$dt]}
  mkdir -p "$d"
  log "$dt: fixtures ($SIZE)"
  "$LINEAGE" fixture generate "$base" --size "$SIZE" --dtype "$dt" --seed 1 >"$d/fx.base"
  "$LINEAGE" fixture derive "$base" "$child5" --fraction 0.05 --scale 0.01 --seed 2 >"$d/fx.child5"
  "$LINEAGE" fixture derive "$base" "$small" --fraction 1 --scale "$scale" --seed 3 >"$d/fx.small"
  "$LINEAGE" fixture derive "$base" "$step" --fraction 1 --scale "$stepscale" --seed 4 >"$d/fx.step"
  local raw
  raw=$(stat -c %s "$base")
  local chg5 chgs
  chg5=$("$VPY" "$RUN/changed.py" "$base" "$child5")
  chgs=$("$VPY" "$RUN/changed.py" "$base" "$small")
  local chgt
  chgt=$("$VPY" "$RUN/changed.py" "$base" "$step")

  log "$dt: openssl dgst, sha256sum, cp, zstd -1 ($RUNS runs each)"
  for ((r = 0; r < RUNS; r++)); do prep "$base"; timeit "$dt.openssl" openssl dgst -sha256 "$base"; done
  for ((r = 0; r < RUNS; r++)); do prep "$base"; timeit "$dt.sha256sum" sha256sum "$base"; done
  for ((r = 0; r < RUNS; r++)); do
    rm -f "$d/copy"; prep "$base"; timeit "$dt.cp" cp "$base" "$d/copy"
  done
  rm -f "$d/copy"
  local zsize=0
  for ((r = 0; r < RUNS; r++)); do
    rm -f "$d/base.zst"; prep "$base"; timeit "$dt.zstd" zstd -1 -q -f "$base" -o "$d/base.zst"
    zsize=$(stat -c %s "$d/base.zst")
  done
  rm -f "$d/base.zst"

  log "$dt: lineage first commit and re-commit ($RUNS runs)"
  local store=$d/store stat_misses=0
  for ((r = 0; r < RUNS; r++)); do
    rm -rf "$store"
    "$LINEAGE" init "$store" >/dev/null
    prep "$base"
    timeit "$dt.commit" "$LINEAGE" commit -C "$store" "$base" -m base --tag base --json
    cp "$RUN/cmd.out" "$d/commit.json"
    prep "$base"
    timeit "$dt.recommit" "$LINEAGE" commit -C "$store" "$base" -m "base, unchanged" --json
    [ "$(json "$RUN/cmd.out" 'd["files"][0]["reused"]')" = True ] || stat_misses=$((stat_misses + 1))
    # The store's part of a re-commit, without the environment probe (a Python subprocess whose
    # cost depends on the interpreter on PATH, not on the checkpoint).
    prep "$base"
    timeit "$dt.recommit_store" "$LINEAGE" commit -C "$store" "$base" -m "base, unchanged" --json --no-environment
    [ "$(json "$RUN/cmd.out" 'd["files"][0]["reused"]')" = True ] || stat_misses=$((stat_misses + 1))
  done
  local base_id
  base_id=$(json "$d/commit.json" 'd["commit"]')

  # Each checkout is paired with a cp run just before it, under the same page-cache state (on a
  # VM, writing a new 1 GiB file costs 0.3 s or 2 s depending on whether the hypervisor must
  # fault fresh pages in), and the target is judged on the median of the per-pair ratios.
  log "$dt: lineage checkout, each after a paired cp ($RUNS runs)"
  for ((r = 0; r < RUNS; r++)); do
    rm -rf "$d/out" "$d/copy"
    sync
    find "$store/.lineage" -type f -exec cat {} + >/dev/null
    cat "$base" >/dev/null
    timeit "$dt.cp_paired" cp "$base" "$d/copy"
    timeit "$dt.checkout" "$LINEAGE" checkout -C "$store" base -o "$d/out"
    cmp "$base" "$d/out/base.safetensors" ||
      die "$dt: checkout of base is NOT bit-exact ($d/out/base.safetensors differs from $base)"
  done
  rm -rf "$d/out" "$d/copy"

  log "$dt: lineage child commits (--parent base)"
  prep "$child5"
  timeit "$dt.child5" "$LINEAGE" commit -C "$store" "$child5" -m child5 --parent base --json
  local child5_id small_id
  child5_id=$(json "$RUN/cmd.out" 'd["commit"]')
  prep "$small"
  timeit "$dt.small" "$LINEAGE" commit -C "$store" "$small" -m smallstep --parent base --json
  small_id=$(json "$RUN/cmd.out" 'd["commit"]')
  prep "$step"
  timeit "$dt.step" "$LINEAGE" commit -C "$store" "$step" -m step --parent base --json
  local step_id
  step_id=$(json "$RUN/cmd.out" 'd["commit"]')
  "$LINEAGE" du -C "$store" --json >"$d/du.json"
  local base_stored base_logical c5_stored c5_logical s_stored s_logical
  base_stored=$(du_field "$d/du.json" "$base_id" new_stored_bytes); base_logical=$(du_field "$d/du.json" "$base_id" logical_bytes)
  c5_stored=$(du_field "$d/du.json" "$child5_id" new_stored_bytes); c5_logical=$(du_field "$d/du.json" "$child5_id" logical_bytes)
  s_stored=$(du_field "$d/du.json" "$small_id" new_stored_bytes); s_logical=$(du_field "$d/du.json" "$small_id" logical_bytes)
  local t_stored t_logical
  t_stored=$(du_field "$d/du.json" "$step_id" new_stored_bytes); t_logical=$(du_field "$d/du.json" "$step_id" logical_bytes)
  # The delta-encoded children must come back bit-exact too (not timed).
  for pair in "$child5_id:$child5" "$small_id:$small" "$step_id:$step"; do
    rm -rf "$d/out"
    "$LINEAGE" checkout -C "$store" "${pair%%:*}" -o "$d/out" >/dev/null
    cmp "${pair#*:}" "$d/out/$(basename "${pair#*:}")" ||
      die "$dt: checkout of $(basename "${pair#*:}") is NOT bit-exact"
  done
  rm -rf "$d/out" "$store"

  log "$dt: dvc add ($RUNS runs)"
  for ((r = 0; r < RUNS; r++)); do
    rm -rf "$d/dvc"
    git init -q "$d/dvc"
    (cd "$d/dvc" && "$DVC" init -q && "$DVC" config core.analytics false &&
      "$DVC" config core.check_update false && "$DVC" config --local core.site_cache_dir "$d/dvc-site") >&2
    cp "$base" "$d/dvc/base.safetensors"
    prep "$d/dvc/base.safetensors"
    timeit "$dt.dvc" env -C "$d/dvc" "$DVC" add -q base.safetensors
  done
  rm -rf "$d/dvc" "$d/dvc-site"

  log "$dt: git lfs add + commit ($RUNS runs)"
  for ((r = 0; r < RUNS; r++)); do
    rm -rf "$d/lfs"
    git "${GIT_ID[@]}" init -q "$d/lfs"
    git -C "$d/lfs" lfs install --local >/dev/null
    git -C "$d/lfs" lfs track '*.safetensors' >/dev/null
    cp "$base" "$d/lfs/base.safetensors"
    prep "$d/lfs/base.safetensors"
    # shellcheck disable=SC2016  # $1 and $@ are expanded by the inner bash
    timeit "$dt.lfs" bash -c 'git "${@:2}" -C "$1" add base.safetensors && git "${@:2}" -C "$1" commit -qm x' _ "$d/lfs" "${GIT_ID[@]}"
    [ "$(git -C "$d/lfs" lfs ls-files -n)" = base.safetensors ] || die "$dt: git lfs did not take base.safetensors"
  done
  rm -rf "$d/lfs"

  local git_t=
  if [ "$SKIP_GIT" = 0 ]; then
    log "$dt: plain git add + commit (1 run; about a minute per GiB)"
    rm -rf "$d/git"
    git "${GIT_ID[@]}" init -q "$d/git"
    cp "$base" "$d/git/base.safetensors"
    prep "$d/git/base.safetensors"
    # shellcheck disable=SC2016  # $1 and $@ are expanded by the inner bash
    timeit "$dt.git" bash -c 'git "${@:2}" -C "$1" add base.safetensors && git "${@:2}" -C "$1" commit -qm x' _ "$d/git" "${GIT_ID[@]}"
    git_t=$(median "$dt.git")
    rm -rf "$d/git"
  fi

  # --- table --------------------------------------------------------------------------------
  local t_ssl t_sha t_cp t_zstd t_commit t_re t_co t_dvc t_lfs t_c5 t_s
  t_ssl=$(median "$dt.openssl"); t_sha=$(median "$dt.sha256sum"); t_cp=$(median "$dt.cp")
  t_zstd=$(median "$dt.zstd"); t_commit=$(median "$dt.commit"); t_re=$(median "$dt.recommit")
  t_co=$(median "$dt.checkout"); t_dvc=$(median "$dt.dvc"); t_lfs=$(median "$dt.lfs")
  t_c5=$(median "$dt.child5"); t_s=$(median "$dt.small")
  local t_t r_t
  t_t=$(median "$dt.step")
  r_t=$(ratio "$t_stored" "$t_logical")
  thr() { calc '%.0f MiB/s' "$raw / 1048576 / ($1 > 0 ? $1 : 0.01)"; }
  local r_ssl r_re r_st r_c5 r_s r_dvc r_lfs rss_c rss_co st_target=${STORED_TARGET[$dt]}
  r_ssl=$(ratio "$t_commit" "$t_ssl"); r_re=$(ratio "$t_re" "$t_commit")
  local t_cpp r_co
  t_cpp=$(median "$dt.cp_paired"); r_co=$(median_ratio "$dt.checkout" "$dt.cp_paired")
  r_st=$(ratio "$base_stored" "$base_logical"); r_c5=$(ratio "$c5_stored" "$c5_logical"); r_s=$(ratio "$s_stored" "$s_logical")
  r_dvc=$(ratio "$t_dvc" "$t_commit"); r_lfs=$(ratio "$t_lfs" "$t_commit")
  rss_c=$(peak_mib "$dt.commit" "$dt.child5" "$dt.small" "$dt.step")
  rss_co=$(peak_mib "$dt.checkout")
  ROWS=
  row "openssl dgst -sha256" "$(secs "$t_ssl") ($(thr "$t_ssl"))" "reference" "–"
  row "sha256sum" "$(secs "$t_sha") ($(thr "$t_sha"))" "reference" "–"
  row "cp (same disk)" "$(secs "$t_cp") ($(thr "$t_cp"))" "reference" "–"
  row "zstd -1 -q" "$(secs "$t_zstd") ($(thr "$t_zstd")), size $(ratio "$zsize" "$raw")× raw" "reference" "–"
  row "first commit vs openssl dgst" "$(secs "$t_commit") = ${r_ssl}× openssl ($(secs "$t_ssl"))" "≤ 2.00×" "$(verdict le "$r_ssl" 2)"
  row "first commit vs dvc add" "$(secs "$t_commit") vs $(secs "$t_dvc") (dvc ÷ lineage = ${r_dvc}×)" "> 1.00× (lineage faster)" "$(verdict lt 1 "$r_dvc")"
  row "first commit vs git lfs add+commit" "$(secs "$t_commit") vs $(secs "$t_lfs") (lfs ÷ lineage = ${r_lfs}×)" "> 1.00× (lineage faster)" "$(verdict lt 1 "$r_lfs")"
  if [ -n "$git_t" ]; then
    local r_git
    r_git=$(ratio "$git_t" "$t_commit")
    row "first commit vs git add+commit" "$(secs "$t_commit") vs $(secs "$git_t") (git ÷ lineage = ${r_git}×, 1 run)" "≥ 20.00×" "$(verdict le 20 "$r_git")"
  else
    row "first commit vs git add+commit" "skipped (--skip-git)" "≥ 20.00×" "–"
  fi
  local re_note=
  [ "$stat_misses" = 0 ] || re_note=", stat cache MISSED in $stat_misses/$RUNS runs"
  local t_rs r_rs
  t_rs=$(median "$dt.recommit_store"); r_rs=$(ratio "$t_rs" "$t_commit")
  row "re-commit unchanged base, store (\`--no-environment\`)" "$(secs "$t_rs") = ${r_rs}× first commit$re_note" "≤ 0.05×" "$(verdict le "$r_rs" 0.05)"
  row "re-commit unchanged base, default (+ environment probe)" "$(secs "$t_re") = ${r_re}× first commit (probe: $(secs "$(calc '%.4f' "$t_re - $t_rs")"))" "reference" "–"
  row "checkout base vs cp (paired runs)" "$(secs "$t_co") vs cp $(secs "$t_cpp") (medians); median of the $RUNS paired ratios ${r_co}×; cmp: identical" "≤ 1.50×" "$(verdict le "$r_co" 1.5)"
  row "stored size of base" "$(mib "$base_stored") / $(mib "$base_logical") = ${r_st}× raw" "≤ ${st_target}×" "$(verdict le "$r_st" "$st_target")"
  row "child5 (5% of tensors changed) adds" "$(mib "$c5_stored") = ${r_c5}× raw (commit $(secs "$t_c5"), 1 run)" "≤ 0.06×" "$(verdict le "$r_c5" 0.06)"
  row "small step (scale $stepscale, $(echo "$chgt" | cut -d' ' -f1) of values changed) adds" "$(mib "$t_stored") = ${r_t}× raw (commit $(secs "$t_t"), 1 run)" "≤ 0.50×" "$(verdict le "$r_t" 0.5)"
  row "every value changed (scale $scale, $(echo "$chgs" | cut -d' ' -f1)) adds" "$(mib "$s_stored") = ${r_s}× raw (commit $(secs "$t_s"), 1 run)" "≤ 0.50×" "$(verdict le "$r_s" 0.5)"
  row "peak RSS, commit (max of all commits)" "$rss_c MiB" "≤ 512 MiB" "$(verdict le "$rss_c" 512)"
  row "peak RSS, checkout" "$rss_co MiB" "≤ 512 MiB" "$(verdict le "$rss_co" 512)"

  {
    echo "### $dt"
    echo
    echo "Fixtures: base $(sed 's/^Wrote [^:]*: //' "$d/fx.base") ($raw bytes, seed 1). child5 (\`--fraction 0.05 --scale 0.01\`): fixture says $(sed 's/^Wrote [^:]*: //' "$d/fx.child5"); numpy finds $chg5 differing. step (\`--fraction 1 --scale $stepscale\`): numpy finds $chgt differing. every-value (\`--fraction 1 --scale $scale\`): numpy finds $chgs differing."
    echo
    echo "| metric | measured | target | pass/fail |"
    echo "| --- | --- | --- | --- |"
    printf '%s' "$ROWS"
    echo
  } >>"$RUN/tables.md"
}

# ---------------------------------------------------------------------------------------------
T0=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
CPU=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
[ -n "$CPU" ] || CPU=$(uname -m)
SSL_KBS=$(openssl speed -evp sha256 -bytes 65536 -seconds 1 2>/dev/null | awk 'tolower($1) == "sha256" {v = $NF} END {sub(/k$/, "", v); print v}')
[ -n "$SSL_KBS" ] || die "could not read openssl speed output"
LVER=$("$LINEAGE" version | head -n1)
LLIBS=$("$LINEAGE" version | sed -n 2p)

log "work dir $RUN; lineage $LINEAGE_SRC ($LVER); size $SIZE; runs $RUNS"
# CPU time the hypervisor gave to other guests ("steal", /proc/stat) while the run lasted: on a
# shared VM it stretches every wall time, the references' as much as lineage's.
cpu_counters() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t }' /proc/stat; }
STEAL0=$(cpu_counters)
for dt in BF16 F32; do bench_dtype "$dt"; done
ELAPSED=$(($(date +%s) - T0))
STEAL_PCT=$(echo "$STEAL0 $(cpu_counters)" | awk '{ d = $4 - $2; if (d > 0) printf "%.1f", 100 * ($3 - $1) / d; else print "0.0" }')

{
  echo "## Benchmarks"
  echo
  echo "Generated by \`Benchmarks/run.sh --size $SIZE --runs $RUNS$([ "$SKIP_GIT" = 1 ] && echo ' --skip-git')\` on $(date -u +%Y-%m-%d)."
  echo
  echo "- CPU: $CPU; nproc: $(nproc); memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); load average at start: $LOAD0; CPU steal during the run: ${STEAL_PCT}%"
  echo "- \`openssl speed -evp sha256 -bytes 65536 -seconds 1\`: $(calc '%.0f MB/s' "$SSL_KBS / 1000")"
  echo "- lineage: \`$LVER\` ($LLIBS)"
  echo "- tools: $(git --version), $(git lfs version | cut -d' ' -f1), dvc $("$DVC" --version), zstd $(zstd --version | grep -o 'v[0-9.]*'), $(openssl version | cut -d' ' -f1-2)"
  echo
  echo "Times are wall seconds, the median of $RUNS run(s) unless marked, with the page cache warm and"
  echo "earlier writes flushed before each. Ratios to 2 decimals. Stored sizes come from \`lineage du"
  echo "--json\` (a commit's \`new_stored_bytes\` / \`logical_bytes\`). Checkout is checked with \`cmp\`."
  echo "Notes: lineage commit fsyncs its pack, while cp, dvc, git and git-lfs do not sync. BF16 smallstep"
  echo "uses \`--scale ${SMALL_SCALE[BF16]}\`, not 0.01: BF16 keeps 8 significant bits, so at 0.01 many values (and"
  echo "every norm weight near 1.0) round back to themselves; ${SMALL_SCALE[BF16]} is the smallest scale found to change"
  echo "≥ 99% of them (numpy's count is in each table's caption). Commits capture the environment"
  echo "(\`$(command -v python3 || echo 'no python3')\` on PATH here) on a thread of their own while the files are"
  echo "stored; the re-commit target is judged on the store's part, and the default re-commit is shown"
  echo "beside it. This run took ${ELAPSED} s."
  echo
  cat "$RUN/tables.md"
  echo "$PASSES targets met, $FAILS missed."
} >"$RUN/section.md"

cat "$RUN/section.md"

if [ -n "$UPDATE_DOCS" ]; then
  touch "$UPDATE_DOCS"
  if grep -q '<!-- bench:start -->' "$UPDATE_DOCS" && grep -q '<!-- bench:end -->' "$UPDATE_DOCS"; then
    awk -v sect="$RUN/section.md" '
      /<!-- bench:start -->/ && !done { print; while ((getline l < sect) > 0) print l; skip = 1; next }
      /<!-- bench:end -->/ && skip { skip = 0; done = 1 }
      !skip { print }' "$UPDATE_DOCS" >"$RUN/doc.new"
  else
    { cat "$UPDATE_DOCS"; [ -s "$UPDATE_DOCS" ] && echo; echo '<!-- bench:start -->'; cat "$RUN/section.md"; echo '<!-- bench:end -->'; } >"$RUN/doc.new"
  fi
  cat "$RUN/doc.new" >"$UPDATE_DOCS"
  log "updated $UPDATE_DOCS"
fi
log "done in ${ELAPSED} s"
