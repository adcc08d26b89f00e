# shellcheck shell=bash disable=SC2086  # sourced by run.sh
# commit: a stopped busybox container that copied /bin (~400 entries, the 2 MB
# busybox binary and its hard link) and wrote 8 MiB of random data, committed to
# a new image. Before every run --prepare removes the image the run before made
# (rmi: its layer and blobs go too), so each commit reads, compresses, stores
# and unpacks its layer anew. No goal in an issue: shown for the record.
row_commit() {
  local src=$REGISTRY/busybox:latest missing
  local work='cp -a /bin /copy && head -c 8388608 /dev/urandom > /rand'
  as_user $PODMAN pull -q --tls-verify=false "$src" >/dev/null || return 1
  as_user $PODMAN rm -f bench-commit >/dev/null 2>&1 || true
  as_user $PODMAN run --name bench-commit "$src" sh -c "$work" >/dev/null || return 1
  local pprep="sh -c '$PODMAN rmi -f bench-commit-img >/dev/null 2>&1 || true'"
  local pcmd="$PODMAN commit -q bench-commit bench-commit-img"
  missing=$(tspod_missing commit pull run rmi)
  if [[ -n $missing ]]; then
    hf commit -N --warmup 1 --runs 10 --prepare "$pprep" -n podman "$pcmd" || return 1
    report_skip commit podman "-" "tspod has no \`$missing\` yet" commit podman
  else
    as_user $TSPOD pull -q --tls-verify=false "$src" >/dev/null || return 1
    as_user $TSPOD rm -f bench-commit >/dev/null 2>&1 || true
    as_user $TSPOD run --name bench-commit "$src" sh -c "$work" >/dev/null || return 1
    local tprep="sh -c '$TSPOD rmi -f bench-commit-img >/dev/null 2>&1 || true'"
    hf commit -N --warmup 1 --runs 10 \
      --prepare "$tprep" -n tspod "$TSPOD commit -q bench-commit bench-commit-img" \
      --prepare "$pprep" -n podman "$pcmd" || return 1
    report commit commit tspod podman podman "-"
    as_user sh -c "$TSPOD rm -f bench-commit; $TSPOD rmi -f bench-commit-img" >/dev/null 2>&1 || true
  fi
  as_user sh -c "$PODMAN rm -f bench-commit; $PODMAN rmi -f bench-commit-img" >/dev/null 2>&1 || true
}
register row_commit commit
