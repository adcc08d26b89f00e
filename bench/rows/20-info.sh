# shellcheck shell=bash disable=SC2086  # sourced by run.sh
# info: `tspod info` vs `podman info`, both on their bench store.
# Goal (issue 3): tspod <= 50 ms absolute (the ratio is printed too).
row_info() {
  if ! tspod_has info; then
    hf info -N --warmup 2 --runs 15 -n podman "$PODMAN info" || return 1
    report_skip info podman "ms 50" "tspod has no \`info\` yet" info podman
    return
  fi
  hf info -N --warmup 3 --runs 20 \
    -n tspod "$TSPOD info" \
    -n podman "$PODMAN info" || return 1
  report info info tspod podman podman "ms 50"
}
register row_info info
