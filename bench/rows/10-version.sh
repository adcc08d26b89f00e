# shellcheck shell=bash disable=SC2086  # sourced by run.sh
# version: start-up time of the binary, `tspod --version` vs `podman --version`.
# Goal (issue 3): tspod <= 0.5x Podman.
row_version() {
  hf version -N --warmup 5 --runs 40 \
    -n tspod "$TS --version" \
    -n podman "podman --version" || return 1
  report version version tspod podman podman "ratio 0.5"
}
register row_version version
