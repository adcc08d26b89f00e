# shellcheck shell=bash disable=SC2086  # sourced by run.sh
# run-true: `run --rm --network none busybox true`, tspod vs Podman, image
# already in each store. Goal (issue 5): <= 0.2x Podman.
# crun-true: the same tspod run vs bare `crun run` of the busybox rootfs with
# `crun spec --rootless` (bench/setup.sh's bundle). Goal (issue 5): <= 3x crun.
# Podman and crun are measured even while tspod has no `run`.
row_run_true() {
  local img=$REGISTRY/busybox:latest missing
  local crun="crun --root $WORK/scratch/crun-state run -b $BSTATE/crun-bundle bench-crun-true"
  local pcmd="$PODMAN run --rm --network none $img true"
  as_user $PODMAN pull -q "$img" >/dev/null || return 1
  missing=$(tspod_missing run pull)
  if [[ -n $missing ]]; then
    hf run-true -N --warmup 3 --runs 15 -n podman "$pcmd" -n crun "$crun" || return 1
    report_skip run-true podman "ratio 0.2" "tspod has no \`$missing\` yet" run-true podman
    report_skip crun-true crun "ratio 3" "tspod has no \`$missing\` yet" run-true crun
    return
  fi
  as_user $TSPOD pull --tls-verify=false "$img" >/dev/null 2>&1 || return 1
  hf run-true -N --warmup 3 --runs 15 \
    -n tspod "$TSPOD run --rm --network none $img true" \
    -n podman "$pcmd" \
    -n crun "$crun" || return 1
  report run-true run-true tspod podman podman "ratio 0.2"
  report crun-true run-true tspod crun crun "ratio 3"
}
register row_run_true run-true crun-true
