# shellcheck shell=bash disable=SC2086  # sourced by run.sh
# images: list images with busybox and multilayer in each store.
# Goal (issue 5): <= 0.25x Podman.
row_images() {
  local i missing
  for i in busybox multilayer; do
    as_user $PODMAN pull -q "$REGISTRY/$i:latest" >/dev/null || return 1
  done
  missing=$(tspod_missing images pull)
  if [[ -n $missing ]]; then
    hf images -N --warmup 3 --runs 20 -n podman "$PODMAN images" || return 1
    report_skip images podman "ratio 0.25" "tspod has no \`$missing\` yet" images podman
    return
  fi
  for i in busybox multilayer; do
    as_user $TSPOD pull --tls-verify=false "$REGISTRY/$i:latest" >/dev/null 2>&1 || return 1
  done
  hf images -N --warmup 3 --runs 20 \
    -n tspod "$TSPOD images" \
    -n podman "$PODMAN images" || return 1
  report images images tspod podman podman "ratio 0.25"
}
register row_images images
