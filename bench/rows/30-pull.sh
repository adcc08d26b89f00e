# shellcheck shell=bash disable=SC2086  # sourced by run.sh
# pull-busybox, pull-multilayer, pull-big: a cold pull from the local registry.
# Before every timed run --prepare removes the image (`rmi -f IMG || true`), and
# each row starts with none of the pull images in either store, so every run
# downloads, verifies and unpacks every layer. Goals (issue 4): <= 0.3x Podman
# for busybox and multilayer, <= 0.6x for big (~47 MB gzip, one layer).

PULL_IMAGES=(busybox multilayer big)

# Remove every pull image from both bench stores.
pull_clear() {
  local i
  for i in "${PULL_IMAGES[@]}"; do
    as_user $PODMAN rmi -f "$REGISTRY/$i:latest" >/dev/null 2>&1 || true
    tspod_has rmi && { as_user $TSPOD rmi -f "$REGISTRY/$i:latest" >/dev/null 2>&1 || true; }
  done
}

kib() { du -sk "$1" 2>/dev/null | cut -f1 || echo 0; }

# pull_row ROW IMAGE RUNS WARMUP GOAL_RATIO
pull_row() {
  local row=$1 img=$REGISTRY/$2:latest runs=$3 warm=$4 goal=$5 missing
  local pprep="sh -c '$PODMAN rmi -f $img >/dev/null 2>&1 || true'"
  local pcmd="$PODMAN pull --tls-verify=false $img"
  pull_clear
  missing=$(tspod_missing pull rmi)
  if [[ -n $missing ]]; then
    hf "$row" -N --warmup "$warm" --runs "$runs" --prepare "$pprep" -n podman "$pcmd" || return 1
    report_skip "$row" podman "ratio $goal" "tspod has no \`$missing\` yet" "$row" podman
    return
  fi
  local tprep="sh -c '$TSPOD rmi -f $img >/dev/null 2>&1 || true'"
  local before_t before_p note=""
  before_t=$(kib "$TSPOD_ROOT")
  before_p=$(kib "$PODMAN_ROOT")
  hf "$row" -N --warmup "$warm" --runs "$runs" \
    --prepare "$tprep" -n tspod "$TSPOD pull --tls-verify=false $img" \
    --prepare "$pprep" -n podman "$pcmd" || return 1
  # rmi must really have emptied the store, or later runs were warm pulls.
  as_user sh -c "$TSPOD rmi -f $img; $PODMAN rmi -f $img" >/dev/null 2>&1 || true
  local grew_t=$(($(kib "$TSPOD_ROOT") - before_t)) grew_p=$(($(kib "$PODMAN_ROOT") - before_p))
  ((grew_t > 256)) && note="tspod store keeps ${grew_t} KiB after rmi: warm pulls?"
  ((grew_p > 256)) && note="${note:+$note; }podman store keeps ${grew_p} KiB after rmi"
  report "$row" "$row" tspod podman podman "ratio $goal" "$note"
}

row_pull_busybox() { pull_row pull-busybox busybox 10 2 0.3; }
row_pull_multilayer() { pull_row pull-multilayer multilayer 10 2 0.3; }
row_pull_big() { pull_row pull-big big 6 1 0.6; }
register row_pull_busybox pull-busybox
register row_pull_multilayer pull-multilayer
register row_pull_big pull-big
