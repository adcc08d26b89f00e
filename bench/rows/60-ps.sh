# shellcheck shell=bash disable=SC2086  # sourced by run.sh
# ps-20: `ps -a` with 20 created (never started) containers in the store.
# Goal (issue 5): <= 0.25x Podman. Podman is measured even without tspod ps.
PS_N=20

# ps_count LABEL ENGINE: the engine lists exactly PS_N containers.
ps_count() {
  local n
  n=$(as_user $2 ps -aq | wc -l)
  ((n == PS_N)) || { log "  $1 ps -aq lists $n containers, expected $PS_N"; return 1; }
}

row_ps_20() {
  local img=$REGISTRY/busybox:latest i missing
  as_user $PODMAN pull -q "$img" >/dev/null || return 1
  for i in $(seq "$PS_N"); do
    as_user $PODMAN create --network none --name "bench-ps-$i" "$img" true >/dev/null || return 1
  done
  ps_count podman "$PODMAN" || return 1
  missing=$(tspod_missing create ps pull rm)
  if [[ -n $missing ]]; then
    hf ps-20 -N --warmup 3 --runs 20 -n podman "$PODMAN ps -a" || return 1
    report_skip ps-20 podman "ratio 0.25" "tspod has no \`$missing\` yet" ps-20 podman
  else
    as_user $TSPOD pull --tls-verify=false "$img" >/dev/null 2>&1 || return 1
    for i in $(seq "$PS_N"); do
      as_user $TSPOD create --network none --name "bench-ps-$i" "$img" true >/dev/null || return 1
    done
    ps_count tspod "$TSPOD" || return 1
    hf ps-20 -N --warmup 3 --runs 20 \
      -n tspod "$TSPOD ps -a" \
      -n podman "$PODMAN ps -a" || return 1
    report ps-20 ps-20 tspod podman podman "ratio 0.25"
    as_user $TSPOD rm -af >/dev/null 2>&1 || true
  fi
  as_user $PODMAN rm -af >/dev/null 2>&1 || true
}
register row_ps_20 ps-20
