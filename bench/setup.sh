#!/usr/bin/env bash
# tspod benchmark environment: run as root after (or instead of) test/env/setup.sh.
#
#   bench/setup.sh          install hyperfine, Podman and its helpers; run the test
#                           environment setup; configure rootless Podman for the test
#                           user; build the "big" image and the crun bundle; verify
#                           Podman works (idempotent; a re-run takes a few seconds)
#
# State lives in $TSPOD_BENCH_STATE (default /var/tmp/tspod-bench). See bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BSTATE=${TSPOD_BENCH_STATE:-/var/tmp/tspod-bench}
TEST_ENV=${TSPOD_TEST_STATE:-/var/tmp/tspod-test}/env
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BIG_SOURCE=${BENCH_BIG_SOURCE:-debootstrap}   # or "host" to force the fallback

APT_PACKAGES=(
  hyperfine podman crun conmon catatonit uidmap fuse-overlayfs slirp4netns passt
  containernetworking-plugins golang-github-containers-common debootstrap skopeo
  jq python3 util-linux gzip tar
)

log() { echo "[bench-setup] $*"; }
warn() { echo "[bench-setup] warning: $*" >&2; }
die() { echo "[bench-setup] error: $*" >&2; exit 1; }

[[ $(id -u) == 0 ]] || die "run as root"

# ------------------------------------------------------------------ packages

# shellcheck source=test/env/apt.sh
source "$HERE/../test/env/apt.sh"
install_packages() { apt_install_missing "${APT_PACKAGES[@]}"; }

# ------------------------------------------------------------------ test user

# Run a command as the test user with a clean environment (what run.sh does too).
as_user() {
  setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups \
    env -i HOME="$USER_HOME" USER="$TEST_USER" LOGNAME="$TEST_USER" LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    XDG_RUNTIME_DIR="$XDG_DIR" "$@"
}

runtime_dir() {
  mkdir -p /run/user
  chmod 0755 /run/user
  if [[ ! -d $XDG_DIR ]]; then
    mkdir -m 0700 "$XDG_DIR"
  fi
  chown "$TEST_UID:$TEST_GID" "$XDG_DIR"
  chmod 0700 "$XDG_DIR"
  log "XDG_RUNTIME_DIR $XDG_DIR (0700, $TEST_USER)"
}

# Write FILE (owned by the test user) from stdin unless it already says that.
put_user_file() {
  local file=$1 tmp
  tmp=$(mktemp "$file.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 1
  fi
  chown "$TEST_UID:$TEST_GID" "$tmp"
  chmod 0644 "$tmp"
  mv "$tmp" "$file"
  log "wrote $file"
}

# STORAGE_MODE: native (kernel overlay in the user namespace) or fuse.
write_podman_config() {
  local dir="$USER_HOME/.config/containers" d
  for d in "$USER_HOME/.config" "$dir"; do
    [[ -d $d ]] || { mkdir -p "$d"; chown "$TEST_UID:$TEST_GID" "$d"; }
  done
  put_user_file "$dir/registries.conf" <<'EOF' || true
# written by tspod bench/setup.sh
unqualified-search-registries = ["127.0.0.1:5000"]

[[registry]]
location = "127.0.0.1:5000"
insecure = true
EOF
  if [[ $STORAGE_MODE == native ]]; then
    put_user_file "$dir/storage.conf" <<'EOF' || true
# written by tspod bench/setup.sh: kernel overlayfs inside the user namespace
# (no mount_program), the same kind of rootfs tspod mounts.
[storage]
driver = "overlay"
EOF
  else
    put_user_file "$dir/storage.conf" <<'EOF' || true
# written by tspod bench/setup.sh: kernel overlay failed here, using fuse-overlayfs
[storage]
driver = "overlay"

[storage.options.overlay]
mount_program = "/usr/bin/fuse-overlayfs"
EOF
  fi
  put_user_file "$dir/policy.json" <<'EOF' || true
{"default":[{"type":"insecureAcceptAnything"}]}
EOF
  # No systemd here: cgroupfs manager, events to a file, no journald logs.
  put_user_file "$dir/containers.conf" <<'EOF' || true
# written by tspod bench/setup.sh (no systemd / journald on this machine)
[containers]
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
runtime = "crun"
EOF
}

# ------------------------------------------------------------------ cgroups
#
# On hybrid hosts (v1 controllers plus a cgroup2 "unified" mount) crun refuses
# every container while any controller sits on the v2 hierarchy ("cgroups in
# hybrid mode not supported, drop all controllers from cgroupv2"). Here that is
# hugetlb: mount each such controller as v1 so the v2 mount has none left.
fix_hybrid_cgroups() {
  local unified=/sys/fs/cgroup/unified ctrls c
  if [[ $(stat -f -c %T /sys/fs/cgroup 2>/dev/null) == cgroup2fs ]]; then
    log "cgroups: pure v2, nothing to do"
    return
  fi
  if [[ $(stat -f -c %T "$unified" 2>/dev/null) != cgroup2fs ]]; then
    log "cgroups: v1 without a unified mount, nothing to do"
    return
  fi
  ctrls=$(<"$unified/cgroup.controllers")
  if [[ -z $ctrls ]]; then
    log "cgroups: hybrid, no controller on the v2 hierarchy (crun is fine)"
    return
  fi
  for c in $ctrls; do
    if mountpoint -q "/sys/fs/cgroup/$c"; then continue; fi
    mkdir -p "/sys/fs/cgroup/$c"
    mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" ||
      die "cannot mount the $c controller as cgroup v1 (crun refuses containers until no controller is on cgroup v2)"
    log "cgroups: mounted $c as v1 at /sys/fs/cgroup/$c (crun refuses hybrid hosts otherwise)"
  done
  ctrls=$(<"$unified/cgroup.controllers")
  [[ -z $ctrls ]] || die "controllers still on cgroup v2 after mounting them as v1: $ctrls"
}

# ------------------------------------------------------------------ podman checks

VERIFY_ROOT=/tmp/bench-podman-verify-root
VERIFY_RUNROOT=/tmp/bench-podman-verify-run

pvrfy() { as_user podman --root "$VERIFY_ROOT" --runroot "$VERIFY_RUNROOT" "$@"; }

verify_cleanup() {
  pvrfy rm -af >/dev/null 2>&1 || true
  pvrfy rmi -af >/dev/null 2>&1 || true
  rm -rf "$VERIFY_ROOT" "$VERIFY_RUNROOT"
}

# Returns 1 if running a container fails (the caller may switch to fuse-overlayfs).
verify_podman() {
  local info driver opts out
  local version
  version=$(cd /tmp && as_user podman --version) || die "podman --version fails as $TEST_USER"
  log "$version (as $TEST_USER)"
  info=$(cd /tmp && as_user podman info --format json) || die "podman info fails as $TEST_USER"
  driver=$(jq -r .store.graphDriverName <<<"$info")
  opts=$(jq -c .store.graphOptions <<<"$info")
  log "podman info: driver=$driver graphOptions=$opts cgroupManager=$(jq -r .host.cgroupManager <<<"$info")" \
    "runtime=$(jq -r .host.ociRuntime.name <<<"$info") eventLogger=$(jq -r .host.eventLogger <<<"$info")"
  [[ $driver == overlay ]] || die "podman uses storage driver $driver, not overlay"
  if [[ $STORAGE_MODE == native && $opts == *mount_program* ]]; then
    die "podman uses a mount_program although storage.conf asks for kernel overlay: $opts"
  fi
  verify_cleanup
  (cd /tmp && pvrfy pull -q "$REGISTRY/busybox" >/dev/null) || die "podman pull $REGISTRY/busybox fails as $TEST_USER"
  log "podman pull $REGISTRY/busybox: ok"
  if ! out=$(cd /tmp && pvrfy run --rm --network none "$REGISTRY/busybox" sh -c 'echo ok; grep " / " /proc/mounts' 2>&1) ||
    [[ $out != ok* ]]; then
    warn "podman run failed: $out"
    verify_cleanup
    return 1
  fi
  log "podman run --rm --network none $REGISTRY/busybox: ok; rootfs: $(sed -n 2p <<<"$out" | cut -d' ' -f1-3)"
  verify_cleanup
}

# ------------------------------------------------------------------ crun bundle

# The busybox fixture's layer, unpacked by the test user (so owned by it), plus
# `crun spec --rootless` running `true`: what the crun-true row runs.
make_crun_bundle() {
  local layout="$OCI_LAYOUTS/busybox" man layer bundle="$BSTATE/crun-bundle" stamp
  man=$(jq -r '.manifests[0].digest' "$layout/index.json")
  layer=$(jq -r '.layers[0].digest' "$layout/blobs/sha256/${man#sha256:}")
  stamp="$layer $(crun --version | head -1)"
  if [[ -f $bundle/stamp && $(<"$bundle/stamp") == "$stamp" && -x $bundle/rootfs/bin/true ]]; then
    log "crun bundle: $bundle (current)"
    return
  fi
  rm -rf "$bundle"
  install -d -o "$TEST_UID" -g "$TEST_GID" "$bundle" "$bundle/rootfs"
  as_user tar -xzf "$layout/blobs/sha256/${layer#sha256:}" -C "$bundle/rootfs"
  (cd "$bundle" && as_user crun spec --rootless)
  jq '.process.args = ["true"] | .process.terminal = false' "$bundle/config.json" >"$bundle/config.json.tmp"
  mv "$bundle/config.json.tmp" "$bundle/config.json"
  chown "$TEST_UID:$TEST_GID" "$bundle/config.json"
  echo "$stamp" >"$bundle/stamp"
  # one run proves it works
  (cd /tmp && as_user crun --root "$XDG_DIR/bench-crun-verify" run -b "$bundle" bench-crun-verify) ||
    die "crun run of $bundle fails as $TEST_USER"
  rm -rf "$XDG_DIR/bench-crun-verify"
  log "crun bundle: $bundle (made; crun run ok)"
}

# ------------------------------------------------------------------ big image

BIG="$BSTATE/big"
BIG_REF=   # set once the test env is read

served_digest() { # REPO
  curl -fsS --max-time 5 -I \
    -H "Accept: application/vnd.oci.image.manifest.v1+json" \
    "http://$REGISTRY/v2/$1/manifests/latest" 2>/dev/null |
    tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'
}

big_current() {
  [[ -f $BIG/digest && -f $BIG/layer.tar && -f $BIG/layer.size ]] || return 1
  [[ $(stat -c %s "$BIG/layer.tar") == "$(<"$BIG/layer.size")" ]] || return 1
  [[ $(served_digest big) == "$(<"$BIG/digest")" ]]
}

# A Debian bookworm minbase rootfs as one layer tar: no /dev nodes, no apt
# caches (like Debian's own container images).
big_layer_debootstrap() {
  local rootfs="$BSTATE/big-rootfs" top
  rm -rf "$rootfs"
  log "big: debootstrap --variant=minbase bookworm (mirror $DEBIAN_MIRROR)"
  if ! debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$BSTATE/debootstrap.log" 2>&1; then
    warn "debootstrap failed (log $BSTATE/debootstrap.log): $(tail -n 2 "$BSTATE/debootstrap.log" | tr '\n' ' ')"
    rm -rf "$rootfs"
    return 1
  fi
  rm -rf "${rootfs:?}"/var/cache/apt/archives/*.deb "${rootfs:?}"/var/cache/apt/*.bin \
    "${rootfs:?}"/var/lib/apt/lists/* "${rootfs:?}"/dev/* "${rootfs:?}"/var/log/* "${rootfs:?}"/tmp/*
  mkdir -p "$rootfs/var/lib/apt/lists/partial"
  top=$(cd "$rootfs" && find . -mindepth 1 -maxdepth 1 -printf "%f\n" | sort)
  # shellcheck disable=SC2086  # top-level names of a rootfs: no spaces
  tar -C "$rootfs" --sort=name --numeric-owner \
    -cf "$BIG/layer.tar.tmp" $top
  mv "$BIG/layer.tar.tmp" "$BIG/layer.tar"
  echo "debootstrap --variant=minbase bookworm" >"$BIG/source"
  rm -rf "$rootfs"
}

big_layer_host() {
  log "big: fallback layer from this machine's /usr/share and /usr/lib"
  python3 "$HERE/mkimage.py" host-layer "$BIG/layer.tar" 95
  echo "host /usr/share + /usr/lib (debootstrap fallback)" >"$BIG/source"
}

make_big() {
  if big_current; then
    log "big: $BIG_REF current ($(<"$BIG/source"), $(($(<"$BIG/layer.size") >> 20)) MiB tar)"
    return
  fi
  mkdir -p "$BIG"
  chmod 0755 "$BSTATE" "$BIG"
  if [[ ! -f $BIG/layer.tar || ! -f $BIG/layer.size ||
    $(stat -c %s "$BIG/layer.tar" 2>/dev/null) != "$(cat "$BIG/layer.size" 2>/dev/null)" ]]; then
    rm -f "$BIG/layer.tar" "$BIG/layer.size" "$BIG/digest"
    if [[ $BIG_SOURCE == host ]] || ! big_layer_debootstrap; then
      big_layer_host
    fi
    stat -c %s "$BIG/layer.tar" >"$BIG/layer.size"
    chmod 0644 "$BIG/layer.tar"
  fi
  local digest
  digest=$(python3 "$HERE/mkimage.py" layout "$BIG/layer.tar" "$BIG/oci" latest)
  log "big: pushing $BIG_REF ($digest, $(du -sm "$BIG/oci" | cut -f1) MiB compressed)"
  skopeo --insecure-policy copy -q --dest-tls-verify=false --preserve-digests \
    "oci:$BIG/oci:latest" "docker://$BIG_REF"
  [[ $(served_digest big) == "$digest" ]] || die "registry serves $(served_digest big) for big, pushed $digest"
  echo "$digest" >"$BIG/digest"
  rm -rf "$BIG/oci"   # the registry holds it; the layer tar stays for unpack-big
  log "big: pushed and verified"
}

# ------------------------------------------------------------------ main

# Podman's rootless pause process (catatonit -P, holds its user namespace):
# stop it at the end if this script started it, so setup leaves nothing running.
stop_new_pause() {
  local f=$XDG_DIR/libpod/tmp/pause.pid pid
  pid=$(cat "$f" 2>/dev/null || true)
  if [[ -n $pid && $pid != "$PAUSE_BEFORE" && -e /proc/$pid &&
    $(cat "/proc/$pid/comm" 2>/dev/null) == catatonit ]]; then
    kill "$pid" 2>/dev/null || true
  fi
}

t0=$SECONDS
install_packages
log "test environment: $REPO/test/env/setup.sh"
"$REPO/test/env/setup.sh" setup | sed 's/^/  /'
# shellcheck disable=SC1090
source "$TEST_ENV"
USER_HOME=$(getent passwd "$TEST_USER" | cut -d: -f6)
XDG_DIR=/run/user/$TEST_UID
BIG_REF="$REGISTRY/big:latest"
mkdir -p "$BSTATE"
chmod 0755 "$BSTATE"

runtime_dir
PAUSE_BEFORE=$(cat "$XDG_DIR/libpod/tmp/pause.pid" 2>/dev/null || true)
fix_hybrid_cgroups
STORAGE_MODE=native
[[ -f $BSTATE/storage-mode ]] && STORAGE_MODE=$(<"$BSTATE/storage-mode")
write_podman_config
if ! verify_podman; then
  [[ $STORAGE_MODE == fuse ]] && die "podman run fails with fuse-overlayfs too"
  warn "kernel overlay in the user namespace failed for Podman; switching to fuse-overlayfs"
  STORAGE_MODE=fuse
  (cd /tmp && as_user podman system reset -f) >/dev/null 2>&1 || true
  write_podman_config
  verify_podman || die "podman run fails with fuse-overlayfs too"
fi
echo "$STORAGE_MODE" >"$BSTATE/storage-mode"
log "podman storage: overlay, $([[ $STORAGE_MODE == native ]] && echo "kernel (native) overlay" || echo "fuse-overlayfs")"

make_crun_bundle
make_big
stop_new_pause
log "hyperfine $(hyperfine --version | cut -d' ' -f2), $(podman --version), $(crun --version | head -1)"
log "ready in $((SECONDS - t0))s (state $BSTATE); now: bench/run.sh"
