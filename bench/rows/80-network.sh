# shellcheck shell=bash disable=SC2086  # sourced by run.sh
# run-true-net: `run --rm busybox true` with each engine's default network
# (tspod: pasta, started at the container's first socket, so never for `true`;
# rootless Podman 4.3: slirp4netns). Goal (issue 6): <= 0.25x Podman.
# run-true-net-eager: the same with TSPOD_NET_START=eager (pasta before the
# container, as for one that uses its network at once); shown, no goal.
# net-50m: 50 MiB fetched with curl from busybox httpd through a published port
# (-p HOST:80), a warm file on a bind mount; time per fetch, so a ratio <= 1.0
# means at least Podman's throughput (slirp4netns + rootlessport; tspod: no
# forwarder, httpd's socket is lent into the host's namespace, native/lend.c).
# Goal (issue 6): >= 1.0x.
NET_MIB=50

row_net() {
  local img=$REGISTRY/busybox:latest missing www tport pport
  www=$WORK/scratch/www
  mkdir -p "$www"
  head -c $((NET_MIB * 1024 * 1024)) /dev/urandom >"$www/big"
  chown -R "$TEST_UID:$TEST_GID" "$www"
  chmod -R a+rX "$www"
  as_user $PODMAN pull -q "$img" >/dev/null || return 1
  pport=$(free_port) tport=$(free_port)
  as_user $PODMAN run -d --name bench-net -p "$pport:80" -v "$www:/www:ro" "$img" httpd -f -p 80 -h /www >/dev/null || return 1
  wait_http "$pport" || return 1
  missing=$(tspod_missing run pull rm port)
  if [[ -n $missing ]]; then
    hf run-true-net -N --warmup 3 --runs 15 -n podman "$PODMAN run --rm $img true" || return 1
    hf net-50m -N --warmup 2 --runs 10 -n podman "curl -sf -o /dev/null http://127.0.0.1:$pport/big" || return 1
    report_skip run-true-net podman "ratio 0.25" "tspod has no \`$missing\` yet" run-true-net podman
    report_skip net-50m podman "ratio 1.0" "tspod has no \`$missing\` yet" net-50m podman
    as_user $PODMAN rm -f -t 0 bench-net >/dev/null 2>&1
    return
  fi
  as_user $TSPOD pull --tls-verify=false "$img" >/dev/null 2>&1 || return 1
  as_user $TSPOD run -d --name bench-net -p "$tport:80" -v "$www:/www:ro" "$img" httpd -f -p 80 -h /www >/dev/null || return 1
  wait_http "$tport" || return 1
  hf run-true-net -N --warmup 3 --runs 15 \
    -n tspod "$TSPOD run --rm $img true" \
    -n tspod-eager "env TSPOD_NET_START=eager $TSPOD run --rm $img true" \
    -n podman "$PODMAN run --rm $img true" || return 1
  hf net-50m -N --warmup 2 --runs 10 \
    -n tspod "curl -sf -o /dev/null http://127.0.0.1:$tport/big" \
    -n podman "curl -sf -o /dev/null http://127.0.0.1:$pport/big" || return 1
  as_user $TSPOD rm -f bench-net >/dev/null 2>&1
  as_user $PODMAN rm -f -t 0 bench-net >/dev/null 2>&1
  report run-true-net run-true-net tspod podman podman "ratio 0.25"
  report run-true-net-eager run-true-net tspod-eager podman podman "-" "pasta before the container, no goal"
  report net-50m net-50m tspod podman podman "ratio 1.0" "$NET_MIB MiB: time per fetch"
}

# free_port: a TCP port nobody listens on (the kernel's pick).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("0.0.0.0", 0)); print(s.getsockname()[1])'
}

# wait_http PORT: the published httpd answers (up to ~5 s).
wait_http() {
  local i
  for i in $(seq 50); do
    curl -sf -o /dev/null -r 0-0 "http://127.0.0.1:$1/big" 2>/dev/null && return 0
    sleep 0.1
  done
  log "  nothing answers on port $1"
  return 1
}
register row_net run-true-net run-true-net-eager net-50m
