#!/usr/bin/env bash
# tspod benchmarks against Podman (and crun, GNU tar), side by side in one run.
#
#   bench/run.sh [ROW...]     run the rows named (default: all), print one table
#   bench/run.sh --list       list the rows
#
# Run as root after bench/setup.sh. hyperfine itself runs as the test user
# (setpriv --reuid/--regid/--init-groups, env -i with HOME, USER, PATH and
# XDG_RUNTIME_DIR), so every measured command runs as that user with a clean
# environment and no wrapper inside the timed region. Each engine uses a
# bench-only store that is wiped at the start and at the end:
#   tspod  --root /tmp/bench-tspod-root  --runroot /tmp/bench-tspod-run
#   podman --root /tmp/bench-podman-root --runroot /tmp/bench-podman-run
#
# Environment: TSPOD (binary, default dist/tspod), TSPOD_RT (default
# native/out/tspod-rt), BENCH_VERBOSE=1 (show hyperfine's output),
# BENCH_KEEP=1 (keep the work directory with the JSON exports).
# shellcheck disable=SC2086  # $TS, $TSPOD, $PODMAN are command lines, split on purpose
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BSTATE=${TSPOD_BENCH_STATE:-/var/tmp/tspod-bench}
TEST_ENV=${TSPOD_TEST_STATE:-/var/tmp/tspod-test}/env

TSPOD_ROOT=/tmp/bench-tspod-root
TSPOD_RUNROOT=/tmp/bench-tspod-run
PODMAN_ROOT=/tmp/bench-podman-root
PODMAN_RUNROOT=/tmp/bench-podman-run

log() { echo "[bench] $*" >&2; }
die() { echo "[bench] error: $*" >&2; exit 1; }

# ------------------------------------------------------------------ rows
#
# A row file in bench/rows/ defines a function and registers it:
#   register NAME FUNCTION ["alias NAME2 ..."]
# The function measures with `hf` and records table lines with `report` or
# `report_skip`. One function may record several table rows (run-true also
# records crun-true); ask for either name to run it.

ROWS=()                  # table row names, in order
declare -A ROW_FUNC=()   # table row name -> function

register() { # FUNCTION NAME...
  local fn=$1 name
  shift
  for name in "$@"; do
    ROWS+=("$name")
    ROW_FUNC[$name]=$fn
  done
}

for f in "$HERE"/rows/*.sh; do
  # shellcheck disable=SC1090
  source "$f"
done

if [[ ${1:-} == --list ]]; then
  for r in "${ROWS[@]}"; do echo "$r"; done
  exit 0
fi

# ------------------------------------------------------------------ setup

[[ $(id -u) == 0 ]] || die "run as root (it drops to the test user for every measured command)"
[[ -f $TEST_ENV ]] || die "$TEST_ENV missing: run bench/setup.sh first"
# shellcheck disable=SC1090
source "$TEST_ENV"
[[ -f $BSTATE/big/layer.tar && -d $BSTATE/crun-bundle ]] || die "$BSTATE is not set up: run bench/setup.sh first"
command -v hyperfine >/dev/null && command -v podman >/dev/null || die "hyperfine or podman missing: run bench/setup.sh first"
curl -fsS --max-time 3 -o /dev/null "http://$REGISTRY/v2/" ||
  die "registry $REGISTRY does not answer: run bench/setup.sh (or test/env/setup.sh)"

USER_HOME=$(getent passwd "$TEST_USER" | cut -d: -f6)
XDG_DIR=/run/user/$TEST_UID
[[ -d $XDG_DIR ]] || die "$XDG_DIR missing: run bench/setup.sh first"

SELECTED=()
if (($# == 0)); then
  SELECTED=("${ROWS[@]}")
else
  for r in "$@"; do
    [[ -n ${ROW_FUNC[$r]:-} ]] || die "unknown row $r (rows: ${ROWS[*]})"
    SELECTED+=("$r")
  done
fi

WORK=$(mktemp -d /tmp/tspod-bench-run.XXXXXX)
chmod 0755 "$WORK"
mkdir -p "$WORK/json" "$WORK/bin" "$WORK/scratch"
RESULTS=$WORK/results.tsv
HFLOG=$WORK/hyperfine.log
: >"$RESULTS"

# Copies, so a rebuild during the run changes nothing and the test user can read them.
TSPOD_SRC=${TSPOD:-$REPO/dist/tspod}
TSPOD_RT_SRC=${TSPOD_RT:-$REPO/native/out/tspod-rt}
[[ -x $TSPOD_SRC ]] || die "$TSPOD_SRC missing: bun run build"
cp "$TSPOD_SRC" "$WORK/bin/tspod"
[[ -x $TSPOD_RT_SRC ]] && cp "$TSPOD_RT_SRC" "$WORK/bin/tspod-rt"
chmod -R a+rX "$WORK/bin"
chown -R "$TEST_UID:$TEST_GID" "$WORK/json" "$WORK/scratch"

TS="$WORK/bin/tspod"                                                    # bare binary
TSPOD="$TS --root $TSPOD_ROOT --runroot $TSPOD_RUNROOT"                 # with the bench store
PODMAN="podman --root $PODMAN_ROOT --runroot $PODMAN_RUNROOT"           # with the bench store
TSPOD_RT_BIN="$WORK/bin/tspod-rt"

as_user() {
  (cd "$WORK/scratch" && setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups \
    env -i HOME="$USER_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    XDG_RUNTIME_DIR="$XDG_DIR" "$@")
}

# `tspod help CMD` exits 0 when the command exists.
declare -A HAS=()
tspod_has() {
  local c
  for c in "$@"; do
    if [[ -z ${HAS[$c]:-} ]]; then
      if as_user "$TS" help "$c" >/dev/null 2>&1; then HAS[$c]=yes; else HAS[$c]=no; fi
    fi
    [[ ${HAS[$c]} == yes ]] || return 1
  done
}
# The first of CMD... tspod lacks (for skip reasons).
tspod_missing() {
  local c
  for c in "$@"; do tspod_has "$c" || { echo "$c"; return; }; done
}

tspod_rt_has_unpack() {
  [[ -x $TSPOD_RT_BIN ]] || return 1
  # An unknown mode says "unknown mode"; unpack without DEST gives its usage.
  ! as_user "$TSPOD_RT_BIN" unpack </dev/null 2>&1 | grep -q 'unknown mode'
}

# ------------------------------------------------------------------ cleanup

PAUSE_PID_FILE=$XDG_DIR/libpod/tmp/pause.pid
PAUSE_BEFORE=$(cat "$PAUSE_PID_FILE" 2>/dev/null || true)

wipe_stores() {
  if [[ -d $PODMAN_ROOT ]]; then
    as_user $PODMAN rm -af -t 0 >/dev/null 2>&1 || true
    as_user $PODMAN rmi -af >/dev/null 2>&1 || true
  fi
  if [[ -d $TSPOD_ROOT ]] && tspod_has rm; then
    as_user $TSPOD rm -af >/dev/null 2>&1 || true
  fi
  rm -rf "$TSPOD_ROOT" "$TSPOD_RUNROOT" "$PODMAN_ROOT" "$PODMAN_RUNROOT"
}

cleanup() {
  local rc=$?
  set +e
  log "cleaning up"
  wipe_stores
  as_user crun --root "$WORK/scratch/crun-state" delete -f bench-crun-true >/dev/null 2>&1
  # Podman's rootless pause process (holds its user namespace): stop it if this run started it.
  local pause
  pause=$(cat "$PAUSE_PID_FILE" 2>/dev/null)
  if [[ -n $pause && $pause != "$PAUSE_BEFORE" && -e /proc/$pause ]] &&
    [[ $(cat "/proc/$pause/comm" 2>/dev/null) == catatonit ]]; then
    kill "$pause" 2>/dev/null
  fi
  if [[ ${BENCH_KEEP:-} == 1 ]]; then
    log "kept $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ measuring

# hf ID [hyperfine options and commands]: hyperfine as the test user, JSON to
# $WORK/json/ID.json. Name each command with -n; report looks them up by name.
#
# With two or more commands, the runs are split into BENCH_ROUNDS rounds
# (default 3) that alternate the commands (warm-up in the first round only)
# and the samples are merged: hyperfine runs all of one command before the
# next, so on a shared machine whose speed drifts over minutes a ratio would
# compare two different moments; interleaved, both see the same drift.
hf() {
  local id=$1
  shift
  local -a args=("$@")
  local runs=0 ncmd=0 i rounds=${BENCH_ROUNDS:-3}
  for ((i = 0; i < ${#args[@]}; i++)); do
    [[ ${args[i]} == --runs ]] && runs=${args[i + 1]}
    [[ ${args[i]} == -n ]] && ncmd=$((ncmd + 1))
  done
  if ((ncmd < 2 || rounds < 2 || runs < 2 * rounds)); then
    hf_once "$id" "$id" "${args[@]}"
    return
  fi
  local per=$(((runs + rounds - 1) / rounds)) r
  local -a files=()
  for ((r = 1; r <= rounds; r++)); do
    local -a a=()
    for ((i = 0; i < ${#args[@]}; i++)); do
      case ${args[i]} in
        --runs) a+=(--runs "$per"); i=$((i + 1)) ;;
        --warmup) ((r == 1)) && a+=(--warmup "${args[i + 1]}"); i=$((i + 1)) ;;
        *) a+=("${args[i]}") ;;
      esac
    done
    hf_once "$id" "$id.r$r" "${a[@]}" || return 1
    files+=("$WORK/json/$id.r$r.json")
  done
  # Merge: every sample of a command, mean and (sample) standard deviation over all of them.
  jq -s '{results: ([.[].results[]] | group_by(.command) | map(
      (map(.times) | add) as $t | ($t | add / length) as $m |
      {command: .[0].command, times: $t, mean: $m,
       stddev: (if ($t | length) > 1 then (($t | map((. - $m) * (. - $m)) | add) / (($t | length) - 1) | sqrt) else 0 end),
       user: (map(.user) | add / length), system: (map(.system) | add / length)}))}' \
    "${files[@]}" >"$WORK/json/$id.json"
}

# hf_once ID JSON_NAME [hyperfine options and commands]: one hyperfine run.
hf_once() {
  local id=$1 json=$2
  shift 2
  log "  hyperfine $json"
  {
    echo "=== $json"
    printf '%q ' hyperfine "$@"
    echo
  } >>"$HFLOG"
  local rc=0
  if [[ ${BENCH_VERBOSE:-} == 1 ]]; then
    as_user hyperfine --style basic --export-json "$WORK/json/$json.json" "$@" 2>&1 | tee -a "$HFLOG" >&2 || rc=$?
  else
    as_user hyperfine --style basic --export-json "$WORK/json/$json.json" "$@" >>"$HFLOG" 2>&1 || rc=$?
  fi
  if ((rc != 0)); then
    log "  hyperfine $json failed (exit $rc); its output:"
    sed -n "/^=== $json\$/,\$p" "$HFLOG" | tail -n 25 >&2
    return 1
  fi
}

# hstat ID NAME: "mean_ms sd_ms" for command NAME of hyperfine run ID ("" if none).
hstat() {
  local f="$WORK/json/$1.json"
  [[ -f $f ]] || return 0
  jq -r --arg n "$2" '.results[] | select(.command == $n) |
    "\(.mean * 1000) \((.stddev // 0) * 1000)"' "$f"
}

# report ROW ID TSPOD_NAME REF_LABEL REF_NAME GOAL [NOTE]
#   GOAL: "ratio X" (tspod/ref <= X), "ms X" (tspod mean <= X ms) or "-" (shown, no goal).
#   TSPOD_NAME "-" means tspod was not measured; then NOTE is the skip reason.
report() {
  local row=$1 id=$2 tname=$3 rlabel=$4 rname=$5 goal=$6 note=${7:-}
  local t r
  t=$([[ $tname == - ]] || hstat "$id" "$tname")
  r=$([[ $rname == - ]] || hstat "$id" "$rname")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "${t:--}" "$rlabel" "${r:--}" "$goal" "$note" >>"$RESULTS"
}

# report_skip ROW REF_LABEL GOAL REASON [ID REF_NAME]: tspod not measured
# (the reference still is when ID is given).
report_skip() {
  local row=$1 rlabel=$2 goal=$3 reason=$4 id=${5:-} rname=${6:--}
  local r=""
  [[ -n $id && $rname != - ]] && r=$(hstat "$id" "$rname")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "-" "$rlabel" "${r:--}" "$goal" "skipped: $reason" >>"$RESULTS"
}

# report_fail ROW REF_LABEL GOAL WHY: the measurement itself failed.
report_fail() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "-" "$2" "-" "$3" "ERROR: $4" >>"$RESULTS"
}

# ------------------------------------------------------------------ machine

# What makes ratios move from one machine to the next, printed under the header.
# A fresh page's first touch: ~0.3 us on a plain VM, ~11 us on the nested
# (PVM, shadow-paged) VMs of session 7, where it is most of a compiled Bun
# program's start-up and most of pasta's (it clears ~32 MB of buffers at start:
# ~8000 fresh pages). Both engines pay it, but not in the same proportion, so
# the ratios of the short rows depend on it.
machine_facts() {
  local fault pasta=""
  fault=$(python3 -c '
import mmap, time
n = 32 << 20
m = mmap.mmap(-1, n)
t = time.perf_counter()
for i in range(0, n, 4096): m[i] = 1
print("%.1f" % ((time.perf_counter() - t) * 1e6 / (n // 4096)))' 2>/dev/null || echo "?")
  if command -v pasta >/dev/null; then
    pasta=$(as_user python3 -c '
import subprocess, time
best = 1e9
for _ in range(3):
    t = time.perf_counter()
    subprocess.run(["pasta", "--config-net", "-q", "true"], check=True)
    best = min(best, time.perf_counter() - t)
print("%.0f" % (best * 1000))' 2>/dev/null || echo "?")
    pasta="; rootless \`pasta --config-net true\` alone ${pasta} ms"
  fi
  echo "machine: a fresh page's first touch ${fault} us (plain VMs ~0.3)${pasta}"
}

# ------------------------------------------------------------------ table

print_table() {
  echo
  local build
  if [[ $TSPOD_SRC != "$REPO/dist/tspod" ]]; then
    build="binary $TSPOD_SRC"
  else
    build="$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
  fi
  echo "tspod $(as_user "$TS" --version 2>/dev/null | head -1 | awk '{print $NF}') ($build) vs $(podman --version), $(crun --version | head -1); $(nproc) cores, load $LOAD_START at start, $(cut -d' ' -f1-3 /proc/loadavg) at end; $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "$MACHINE"
  awk -F'\t' '
    function fmt(ms, sd) {
      if (ms == "" ) return "-"
      if (ms >= 1000) return sprintf("%.2f ± %.2f s", ms / 1000, sd / 1000)
      if (ms >= 100) return sprintf("%.0f ± %.0f ms", ms, sd)
      return sprintf("%.1f ± %.1f ms", ms, sd)
    }
    # Pad to W display columns (mawk counts bytes; ±, × and ≤ are multibyte).
    function pad(s, w,   t) {
      t = s
      gsub(/±|×|≤/, "x", t)
      while (length(t) < w) { s = s " "; t = t " " }
      return s
    }
    function line(a, b, c, d, e, f) {
      print pad(a, 18) " " pad(b, 18) " " pad(c, 26) " " pad(d, 7) " " pad(e, 16) " " f
    }
    BEGIN {
      line("row", "tspod", "reference", "ratio", "goal", "result")
      line("---", "-----", "---------", "-----", "----", "------")
    }
    {
      row = $1; split($2, t, " "); label = $3; split($4, r, " "); goal = $5; note = $6
      tm = ($2 == "-") ? "" : t[1]; ts = t[2]
      rm = ($4 == "-") ? "" : r[1]; rs = r[2]
      ratio = "-"
      if (tm != "" && rm != "" && rm > 0) ratio = sprintf("%.2f×", tm / rm)
      split(goal, g, " ")
      goaltxt = (g[1] == "ratio") ? sprintf("≤ %s× %s", g[2], label) : (g[1] == "ms") ? sprintf("≤ %s ms", g[2]) : "-"
      if (note ~ /^(skipped|ERROR)/) verdict = note
      else if (tm == "") verdict = "ERROR: no tspod result"
      else if (g[1] == "-") verdict = "-"
      else if (g[1] == "ratio") {
        if (rm == "") verdict = "ERROR: no " label " result"
        else verdict = (tm / rm <= g[2] + 0) ? "PASS" : "FAIL"
      } else verdict = (tm <= g[2] + 0) ? "PASS" : "FAIL"
      if (note != "" && note !~ /^(skipped|ERROR)/) verdict = verdict " (" note ")"
      line(row, fmt(tm, ts), label " " fmt(rm, rs), ratio, goaltxt, verdict)
    }' "$RESULTS"
}

# ------------------------------------------------------------------ main

t0=$SECONDS
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
MACHINE=$(machine_facts)
log "work dir $WORK; $(as_user "$TS" --version | head -1); $(as_user podman --version)"
log "wiping the bench stores"
wipe_stores

declare -A RAN=()
for r in "${SELECTED[@]}"; do
  fn=${ROW_FUNC[$r]}
  [[ -n ${RAN[$fn]:-} ]] && continue
  RAN[$fn]=1
  log "row $r ($((SECONDS - t0))s)"
  if ! "$fn"; then
    log "row $r: $fn failed"
    grep -q "^$r	" "$RESULTS" || report_fail "$r" "-" "-" "see $HFLOG (BENCH_KEEP=1 keeps it)"
  fi
done

# Keep only the rows asked for (a function may record several), in table order.
{
  for r in "${ROWS[@]}"; do
    for s in "${SELECTED[@]}"; do
      [[ $r == "$s" ]] || continue
      grep "^$r	" "$RESULTS" || true
    done
  done
} >"$RESULTS.sel"
mv "$RESULTS.sel" "$RESULTS"

print_table
echo "($((SECONDS - t0))s; ratios are tspod/reference means; runs as $TEST_USER, rootless)"
