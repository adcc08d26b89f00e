#!/usr/bin/env bash
# tspod test environment: run as root on a fresh Debian 12 machine.
#
#   test/env/setup.sh [setup]   install packages and bun, create the test user,
#                               open /dev/fuse and /dev/net/tun, start the local
#                               registries and push the fixture images (idempotent)
#   test/env/setup.sh stop      stop the registries this script started
#   test/env/setup.sh status    say whether they answer (exit 0 only if all do)
#
# State lives in $TSPOD_TEST_STATE (default /var/tmp/tspod-test); $STATE/env is
# the KEY=VALUE file the tests read. See test/env/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${TSPOD_TEST_STATE:-/var/tmp/tspod-test}

REGISTRY=127.0.0.1:5000          # anonymous registry, the fixtures' home
AUTH_REGISTRY=127.0.0.1:5001     # the same, behind htpasswd Basic auth
TLS_REGISTRY=127.0.0.1:5002      # HTTPS (cert from our own CA), storage shared with :5000
TOKEN_REGISTRY=127.0.0.1:5003    # Bearer token auth, storage shared with :5000
TOKEN_REALM_PORT=5004            # its token server: started by the tests, not here
TOKEN_SERVICE=tspod-test
TOKEN_ISSUER=tspod-test-issuer
AUTH_USER=tspod
AUTH_PASS=tspod-secret
TEST_USER=tspodtest
SUBID_START=200000
SUBID_COUNT=65536
BUN_VERSION=1.4.5
FIXTURES=(busybox busybox-docker multilayer multiarch)
REGISTRIES=(registry registry-auth registry-tls registry-token)
CERTS_DIR=$STATE/certs

APT_PACKAGES=(
  docker-registry busybox-static uidmap fuse-overlayfs fuse3 slirp4netns passt
  skopeo musl-tools gcc libc6-dev zlib1g-dev libzstd-dev tmux curl jq netcat-openbsd iproute2
  apache2-utils python3 procps psmisc util-linux ca-certificates zstd openssl
)

# Every media type a manifest HEAD may answer with.
ACCEPT="application/vnd.oci.image.manifest.v1+json,application/vnd.oci.image.index.v1+json"
ACCEPT+=",application/vnd.docker.distribution.manifest.v2+json"
ACCEPT+=",application/vnd.docker.distribution.manifest.list.v2+json"

log() { echo "[env] $*"; }
die() { echo "[env] error: $*" >&2; exit 1; }

# ------------------------------------------------------------------ packages

# shellcheck source=test/env/apt.sh
source "$HERE/apt.sh"
install_packages() { apt_install_missing "${APT_PACKAGES[@]}"; }

install_bun() {
  if command -v bun >/dev/null; then
    log "bun $(bun --version) at $(command -v bun)"
    return
  fi
  log "installing bun@$BUN_VERSION with npm"
  command -v npm >/dev/null || die "npm is needed to install bun"
  # npm 11 holds back install scripts unless allowed; bun's postinstall only
  # links the platform binary, which the package already ships, but allow it.
  npm install -g --allow-scripts=bun "bun@$BUN_VERSION"
  hash -r
  local bun
  bun=$(command -v bun || echo "$(npm prefix -g)/bin/bun")
  "$bun" --version >/dev/null || die "bun does not run after npm install ($bun)"
  log "bun $("$bun" --version) at $bun"
}

# ------------------------------------------------------------------ test user

# Replace the user's lines in /etc/subuid or /etc/subgid with exactly ours.
# (Debian's useradd may hand out 100000:65536 by itself; stale lines from an
# old user of the same name would add a second range. Keep exactly one.)
ensure_subids() {
  local file=$1 want="$TEST_USER:$SUBID_START:$SUBID_COUNT" have
  touch "$file"
  have=$(grep "^$TEST_USER:" "$file" || true)
  [[ $have == "$want" ]] && return
  [[ -n $have ]] && log "$file: replacing ${have//$'\n'/ } with $want"
  [[ -z $have ]] && log "$file: adding $want"
  { grep -v "^$TEST_USER:" "$file" || true; echo "$want"; } >"$file.tspod-tmp"
  chmod 0644 "$file.tspod-tmp"
  mv "$file.tspod-tmp" "$file"
}

ensure_user() {
  if ! id -u "$TEST_USER" >/dev/null 2>&1; then
    log "creating user $TEST_USER"
    # SUB_*_COUNT=0: no automatic subordinate ids; ensure_subids sets ours.
    useradd -m -s /bin/bash -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$TEST_USER"
  elif [[ $(getent passwd "$TEST_USER" | cut -d: -f7) != /bin/bash ]]; then
    usermod -s /bin/bash "$TEST_USER"   # made by hand, perhaps with useradd's /bin/sh
  fi
  ensure_subids /etc/subuid
  ensure_subids /etc/subgid
  TEST_UID=$(id -u "$TEST_USER")
  TEST_GID=$(id -g "$TEST_USER")
  log "user $TEST_USER uid=$TEST_UID gid=$TEST_GID subids=$SUBID_START:$SUBID_COUNT"
}

# /dev/fuse and /dev/net/tun are 0600 on these machines; distros ship 0666,
# which rootless fuse-overlayfs, slirp4netns and pasta need.
open_devices() {
  [[ -c /dev/fuse ]] || mknod /dev/fuse c 10 229 || log "warning: cannot create /dev/fuse"
  mkdir -p /dev/net
  [[ -c /dev/net/tun ]] || mknod /dev/net/tun c 10 200 || log "warning: cannot create /dev/net/tun"
  local d
  for d in /dev/fuse /dev/net/tun; do
    [[ -c $d ]] && chmod 0666 "$d"
  done
  log "devices: $(stat -c '%n %a' /dev/fuse /dev/net/tun 2>/dev/null | paste -sd, -)"
}

# ------------------------------------------------------------------ certificates
#
# $CERTS_DIR (world-readable directory; keys 0600):
#   ca.crt, ca.key          a test CA (the one tests put in certs.d)
#   server.crt, server.key  signed by the CA for IP 127.0.0.1 and DNS localhost
#                           (served by registry-tls)
#   token.crt, token.key    self-signed; registry-token trusts it (rootcertbundle)
#                           and the tests' token server signs RS256 JWTs with it
# Made once; remade only when a file is missing, a cert expires within 30 days,
# the server cert no longer verifies against the CA or a key no longer matches.

CA_CERT=$CERTS_DIR/ca.crt
SERVER_CERT=$CERTS_DIR/server.crt
SERVER_KEY=$CERTS_DIR/server.key
TOKEN_CERT=$CERTS_DIR/token.crt
TOKEN_KEY=$CERTS_DIR/token.key

# True if CERT is valid for 30 more days and KEY is its private key.
cert_ok() {
  local cert=$1 key=$2
  [[ -s $cert && -s $key ]] || return 1
  openssl x509 -in "$cert" -noout -checkend 2592000 >/dev/null 2>&1 || return 1
  [[ $(openssl x509 -in "$cert" -noout -pubkey 2>/dev/null) == "$(openssl pkey -in "$key" -pubout 2>/dev/null)" ]]
}

# The server cert: signed by our CA, for 127.0.0.1, valid for 30 more days.
server_cert_ok() {
  cert_ok "$SERVER_CERT" "$SERVER_KEY" &&
    openssl verify -CAfile "$CA_CERT" "$SERVER_CERT" >/dev/null 2>&1 &&
    openssl x509 -in "$SERVER_CERT" -noout -checkip 127.0.0.1 2>/dev/null | grep -q 'does match'
}

CERT_FILES=("$CA_CERT" "$CERTS_DIR/ca.key" "$SERVER_CERT" "$SERVER_KEY" "$TOKEN_CERT" "$TOKEN_KEY")

# openssl costs ~0.1 s a call here: after a full check, $CERTS_DIR/checked
# holds the files' hash and the first expiry; a re-run only compares those.
certs_checked() {
  local hash until
  [[ -f $CERTS_DIR/checked ]] || return 1
  read -r hash until <"$CERTS_DIR/checked" || return 1
  [[ $until =~ ^[0-9]+$ ]] && ((until > EPOCHSECONDS + 2592000)) || return 1
  [[ $hash == "$(cat "${CERT_FILES[@]}" 2>/dev/null | sha256sum | cut -d' ' -f1)" ]]
}

make_certs() {
  if certs_checked; then
    log "certs: present and valid ($CERTS_DIR)"
    return
  fi
  mkdir -p "$CERTS_DIR"
  chmod 0755 "$CERTS_DIR"
  local tmp="$CERTS_DIR/.tmp" made=no c end until=
  rm -rf "$tmp"
  mkdir -p "$tmp"
  if ! cert_ok "$CA_CERT" "$CERTS_DIR/ca.key"; then
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=tspod test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null || die "openssl: cannot make the test CA"
    chmod 0600 "$tmp/ca.key"
    chmod 0644 "$tmp/ca.crt"
    mv "$tmp/ca.key" "$CERTS_DIR/ca.key"
    mv "$tmp/ca.crt" "$CA_CERT"
    log "certs: made a test CA ($CA_CERT)"
    made=yes
  fi
  if ! server_cert_ok; then
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature,keyEncipherment" \
      "extendedKeyUsage=serverAuth" "subjectAltName=IP:127.0.0.1,DNS:localhost" >"$tmp/ext"
    openssl req -new -newkey rsa:2048 -nodes -sha256 -subj "/CN=127.0.0.1" \
      -keyout "$tmp/server.key" -out "$tmp/server.csr" 2>/dev/null || die "openssl: cannot make a server key"
    openssl x509 -req -in "$tmp/server.csr" -CA "$CA_CERT" -CAkey "$CERTS_DIR/ca.key" \
      -CAcreateserial -CAserial "$tmp/ca.srl" -days 3650 -sha256 -extfile "$tmp/ext" \
      -out "$tmp/server.crt" 2>/dev/null || die "openssl: cannot sign the server cert"
    chmod 0600 "$tmp/server.key"
    chmod 0644 "$tmp/server.crt"
    mv "$tmp/server.key" "$SERVER_KEY"
    mv "$tmp/server.crt" "$SERVER_CERT"
    server_cert_ok || die "the new server cert does not verify for 127.0.0.1"
    log "certs: made a server cert for 127.0.0.1 ($SERVER_CERT)"
    made=yes
  fi
  if ! cert_ok "$TOKEN_CERT" "$TOKEN_KEY"; then
    openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 3650 -subj "/CN=tspod test token signer" \
      -keyout "$tmp/token.key" -out "$tmp/token.crt" 2>/dev/null || die "openssl: cannot make the token cert"
    chmod 0600 "$tmp/token.key"
    chmod 0644 "$tmp/token.crt"
    mv "$tmp/token.key" "$TOKEN_KEY"
    mv "$tmp/token.crt" "$TOKEN_CERT"
    log "certs: made the token signing cert ($TOKEN_CERT)"
    made=yes
  fi
  rm -rf "$tmp"
  for c in "$CA_CERT" "$SERVER_CERT" "$TOKEN_CERT"; do
    end=$(date -d "$(openssl x509 -in "$c" -noout -enddate | cut -d= -f2)" +%s)
    [[ -z $until ]] || ((end < until)) && until=$end
  done
  echo "$(cat "${CERT_FILES[@]}" | sha256sum | cut -d' ' -f1) $until" >"$CERTS_DIR/checked"
  [[ $made == yes ]] || log "certs: present and valid ($CERTS_DIR)"
}

# Fingerprint of the files a registry config refers to: written into the
# config, so new certs change the config and restart the registry.
files_stamp() {
  cat "$@" | sha256sum | cut -d' ' -f1
}

# ------------------------------------------------------------------ registries
#
# Each registry NAME has $STATE/NAME.yml (config), NAME.pid and NAME.log:
#   registry        127.0.0.1:5000  anonymous, plain HTTP; storage $STATE/registry
#   registry-auth   127.0.0.1:5001  htpasswd Basic auth; storage $STATE/registry-auth
#   registry-tls    127.0.0.1:5002  HTTPS; storage $STATE/registry, read-only
#   registry-token  127.0.0.1:5003  Bearer token auth; storage $STATE/registry, read-only

reg_addr() {
  case $1 in
    registry) echo "$REGISTRY" ;;
    registry-auth) echo "$AUTH_REGISTRY" ;;
    registry-tls) echo "$TLS_REGISTRY" ;;
    registry-token) echo "$TOKEN_REGISTRY" ;;
    *) die "unknown registry $1" ;;
  esac
}

# registry-tls and registry-token serve the :5000 registry's storage (its fixtures; a push
# through them lands there too). distribution keeps no cache of it here, so the
# three processes see one another's writes.
reg_storage() {
  if [[ $1 == registry-auth ]]; then echo "$STATE/registry-auth"; else echo "$STATE/registry"; fi
}

reg_url() {
  if [[ $1 == registry-tls ]]; then echo "https://$(reg_addr "$1")"; else echo "http://$(reg_addr "$1")"; fi
}

# curl options for talking to registry NAME.
reg_curl() {
  local name=$1; shift
  case $name in
    registry-auth) curl -fsS --max-time 5 -u "$AUTH_USER:$AUTH_PASS" "$@" ;;
    registry-tls) curl -fsS --max-time 5 --cacert "$CA_CERT" "$@" ;;
    *) curl -fsS --max-time 5 "$@" ;;
  esac
}

# Does registry NAME answer /v2/ as it should? The token registry must send
# clients to our realm for a Bearer token (the tests serve that realm).
reg_answers() {
  if [[ $1 == registry-token ]]; then
    curl -sS --max-time 5 -o /dev/null -D - "$(reg_url "$1")/v2/" 2>/dev/null | tr -d '\r' |
      grep -qi "^www-authenticate: Bearer realm=\"http://127.0.0.1:$TOKEN_REALM_PORT/token\""
    return
  fi
  reg_curl "$1" -o /dev/null "$(reg_url "$1")/v2/" 2>/dev/null
}

# The pid from NAME.pid if that process is alive and runs our config.
reg_pid() {
  local pidfile="$STATE/$1.pid" pid cmdline
  [[ -f $pidfile ]] || return 1
  pid=$(<"$pidfile")
  [[ $pid =~ ^[0-9]+$ ]] && [[ -r /proc/$pid/cmdline ]] || return 1
  cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmdline == *"$STATE/$1.yml"* ]] || return 1
  echo "$pid"
}

# Write NAME.yml; returns 0 if it changed. Keys: distribution v2.8 format.
write_reg_config() {
  local name=$1 conf="$STATE/$1.yml" tmp="$STATE/.$1.yml.tmp"
  {
    echo "# generated by test/env/setup.sh"
    echo "version: 0.1"
    echo "log:"
    echo "  level: info"
    echo "  formatter: text"
    echo "storage:"
    echo "  filesystem:"
    echo "    rootdirectory: $(reg_storage "$name")"
    echo "  delete:"
    echo "    enabled: true"
    echo "  maintenance:"
    echo "    uploadpurging:"
    echo "      enabled: false"
    echo "http:"
    echo "  addr: $(reg_addr "$name")"
    echo "  secret: tspod-test-$name"
    echo "  headers:"
    echo "    X-Content-Type-Options: [nosniff]"
    case $name in
      registry-tls)
        echo "  # certs $(files_stamp "$SERVER_CERT" "$SERVER_KEY")"
        echo "  tls:"
        echo "    certificate: $SERVER_CERT"
        echo "    key: $SERVER_KEY"
        ;;
      registry-auth)
        echo "auth:"
        echo "  htpasswd:"
        echo "    realm: tspod-test"
        echo "    path: $STATE/htpasswd"
        ;;
      registry-token)
        echo "# certs $(files_stamp "$TOKEN_CERT")"
        echo "auth:"
        echo "  token:"
        echo "    realm: http://127.0.0.1:$TOKEN_REALM_PORT/token"
        echo "    service: $TOKEN_SERVICE"
        echo "    issuer: $TOKEN_ISSUER"
        echo "    rootcertbundle: $TOKEN_CERT"
        ;;
    esac
  } >"$tmp"
  chmod 0600 "$tmp"
  if cmp -s "$tmp" "$conf"; then rm -f "$tmp"; return 1; fi
  mv "$tmp" "$conf"
}

# Bcrypt htpasswd; kept as is while the password still verifies (the salt is
# random, so regenerating would change the file on every run).
write_htpasswd() {
  local f="$STATE/htpasswd"
  if [[ -f $f ]] && htpasswd -vb "$f" "$AUTH_USER" "$AUTH_PASS" >/dev/null 2>&1; then
    return 1
  fi
  htpasswd -Bbn "$AUTH_USER" "$AUTH_PASS" >"$f.tmp"
  chmod 0600 "$f.tmp"
  mv "$f.tmp" "$f"
}

# Something else listens on our port: stop it if it is a docker-registry (e.g.
# Debian's system service on :5000), otherwise refuse to touch it.
free_port() {
  local addr=$1 port=${1##*:} pids pid exe
  pids=$(ss -Hltnp "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true)
  [[ -z $pids ]] && return 0
  for pid in $pids; do
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null || echo '?')
    [[ $exe == */docker-registry ]] || die "port $port is in use by pid $pid ($exe), not by a registry of ours"
  done
  log "port $port is held by another docker-registry (pids ${pids//$'\n'/ }); stopping it"
  if [[ -x /etc/init.d/docker-registry ]]; then
    service docker-registry stop >/dev/null 2>&1 || true
  fi
  for pid in $pids; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    [[ -z $(ss -Hltn "sport = :$port") ]] && return 0
    sleep 0.1
  done
  for pid in $pids; do kill -9 "$pid" 2>/dev/null || true; done
  sleep 0.5
}

stop_registry() {
  local name=$1 pid
  if pid=$(reg_pid "$name"); then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do [[ -e /proc/$pid ]] || break; sleep 0.1; done
    if [[ -e /proc/$pid ]]; then kill -9 "$pid" 2>/dev/null || true; fi
    log "$name: stopped (pid $pid)"
  else
    log "$name: not running"
  fi
  rm -f "$STATE/$name.pid"
}

# Start registry NAME unless ours already runs with the current config.
start_registry() {
  local name=$1 changed=$2 addr pid
  addr=$(reg_addr "$name")
  if pid=$(reg_pid "$name"); then
    if [[ $changed == no ]] && reg_answers "$name"; then
      log "$name: running on $addr (pid $pid)"
      return
    fi
    stop_registry "$name"
  fi
  rm -f "$STATE/$name.pid"
  free_port "$addr"
  mkdir -p "$(reg_storage "$name")"
  chmod 0700 "$(reg_storage "$name")"
  # setsid: own session, no controlling tty; every fd redirected so nobody
  # waiting on our stdout (a pipe, CI) waits on the registry too. A background
  # job of a script is not a group leader, so setsid execs in place: $! is
  # the registry's pid.
  echo "--- $(date -Is) start" >>"$STATE/$name.log"
  setsid /usr/bin/docker-registry serve "$STATE/$name.yml" </dev/null >>"$STATE/$name.log" 2>&1 &
  pid=$!
  echo "$pid" >"$STATE/$name.pid"
  for _ in $(seq 200); do
    if reg_answers "$name"; then
      log "$name: started on $addr (pid $pid, log $STATE/$name.log)"
      return
    fi
    [[ -e /proc/$pid ]] || break
    sleep 0.1
  done
  tail -n 20 "$STATE/$name.log" >&2 || true
  die "$name did not answer on $(reg_url "$name")/v2/ within 20s"
}

start_registries() {
  local changed
  changed=no; write_reg_config registry && changed=yes
  start_registry registry "$changed"
  changed=no
  write_htpasswd && changed=yes
  write_reg_config registry-auth && changed=yes
  start_registry registry-auth "$changed"
  # The auth registry must refuse anonymous clients.
  if curl -fsS --max-time 5 -o /dev/null "http://$AUTH_REGISTRY/v2/" 2>/dev/null; then
    die "registry-auth answers without credentials"
  fi
  make_certs
  local name
  for name in registry-tls registry-token; do
    changed=no
    write_reg_config "$name" && changed=yes
    start_registry "$name" "$changed"
  done
  # The TLS registry must not serve its API over plain HTTP.
  if curl -fsS --max-time 5 -o /dev/null "http://$TLS_REGISTRY/v2/" 2>/dev/null; then
    die "registry-tls answers plain HTTP"
  fi
}

# The registries sharing :5000's storage serve what it serves.
check_shared() {
  local want got
  want=$(grep "^busybox=" "$STATE/digests" | cut -d= -f2)
  got=$(served_digest registry-tls busybox || true)
  [[ $got == "$want" ]] || die "registry-tls serves busybox as '$got', expected $want"
  log "shared storage: registry-tls serves busybox $got"
}

# ------------------------------------------------------------------ fixtures

OCI="$STATE/oci"   # the OCI layouts mkfixtures.py writes

# Manifest digest registry NAME serves for REPO:latest ("" if none).
served_digest() {
  reg_curl "$1" -I -H "Accept: $ACCEPT" "$(reg_url "$1")/v2/$2/manifests/latest" 2>/dev/null |
    tr -d '\r' | awk -F': ' 'tolower($1)=="docker-content-digest"{print $2}'
}

# Everything the fixtures are made from; a change means rebuild and re-push.
fixture_stamp() {
  cat "$HERE/mkfixtures.py" /bin/busybox | sha256sum | cut -d' ' -f1
}

# True if the last push is still what both registries serve.
fixtures_current() {
  [[ -f $STATE/fixtures.stamp && -f $STATE/digests ]] || return 1
  [[ $(<"$STATE/fixtures.stamp") == "$(fixture_stamp)" ]] || return 1
  local name digest
  for name in "${FIXTURES[@]}"; do
    digest=$(grep "^$name=" "$STATE/digests" | cut -d= -f2)
    [[ -n $digest && $(served_digest registry "$name") == "$digest" ]] || return 1
  done
  digest=$(grep "^busybox=" "$STATE/digests" | cut -d= -f2)
  [[ $(served_digest registry-auth busybox) == "$digest" ]] || return 1
}

push() { # SRC DEST [skopeo options]
  local src=$1 dest=$2; shift 2
  log "push $src -> $dest"
  skopeo --insecure-policy copy -q --dest-tls-verify=false "$@" "$src" "$dest"
}

# Check what registry NAME serves for REPO: raw manifest digest, the
# registry's own Docker-Content-Digest and the media type. Prints the digest.
verify_fixture() {
  local name=$1 repo=$2 want_type=$3 raw digest served type creds=()
  [[ $name == registry-auth ]] && creds=(--creds "$AUTH_USER:$AUTH_PASS")
  raw=$(skopeo inspect --tls-verify=false "${creds[@]}" --raw "docker://$(reg_addr "$name")/$repo:latest")
  digest="sha256:$(printf '%s' "$raw" | sha256sum | cut -d' ' -f1)"
  served=$(served_digest "$name" "$repo" || true)
  type=$(jq -r .mediaType <<<"$raw")
  [[ $digest == "$served" ]] || die "$repo: raw manifest is $digest but the registry says $served"
  [[ $type == "$want_type" ]] || die "$repo: mediaType $type, expected $want_type"
  echo "$digest"
}

push_fixtures() {
  if fixtures_current; then
    log "fixtures: already pushed, unchanged"
    return
  fi
  log "fixtures: building OCI layouts in $OCI"
  python3 "$HERE/mkfixtures.py" "$OCI" /bin/busybox
  chmod -R a+rX "$OCI"

  local R="docker://$REGISTRY" A="docker://$AUTH_REGISTRY"
  push "oci:$OCI/busybox:latest" "$R/busybox:latest" --preserve-digests
  push "oci:$OCI/busybox:latest" "$R/busybox-docker:latest" --format v2s2
  push "oci:$OCI/multilayer:latest" "$R/multilayer:latest" --preserve-digests
  push "oci:$OCI/multiarch:latest" "$R/multiarch:latest" --all --preserve-digests
  push "oci:$OCI/busybox:latest" "$A/busybox:latest" --preserve-digests \
    --dest-creds "$AUTH_USER:$AUTH_PASS"

  local oci_m=application/vnd.oci.image.manifest.v1+json
  local oci_i=application/vnd.oci.image.index.v1+json
  local v2s2=application/vnd.docker.distribution.manifest.v2+json
  local d_busybox d_docker d_multilayer d_multiarch d_auth
  d_busybox=$(verify_fixture registry busybox "$oci_m")
  d_docker=$(verify_fixture registry busybox-docker "$v2s2")
  d_multilayer=$(verify_fixture registry multilayer "$oci_m")
  d_multiarch=$(verify_fixture registry multiarch "$oci_i")
  d_auth=$(verify_fixture registry-auth busybox "$oci_m")

  # --preserve-digests: what the registry serves is byte-identical to the layout.
  local name d
  for name in busybox multilayer multiarch; do
    d=d_$name
    [[ ${!d} == "$(jq -r '.manifests[0].digest' "$OCI/$name/index.json")" ]] ||
      die "$name: registry digest ${!d} differs from the OCI layout's"
  done
  [[ $d_auth == "$d_busybox" ]] || die "busybox on $AUTH_REGISTRY is $d_auth, on $REGISTRY $d_busybox"
  # The zstd and uncompressed layers must have survived the push as they are.
  skopeo inspect --tls-verify=false --raw "$R/multilayer:latest" |
    jq -e '[.layers[].mediaType] | index("application/vnd.oci.image.layer.v1.tar+zstd") != null
           and index("application/vnd.oci.image.layer.v1.tar") != null' >/dev/null ||
    die "multilayer lost its zstd or uncompressed layer on push"

  {
    echo "busybox=$d_busybox"
    echo "busybox-docker=$d_docker"
    echo "multilayer=$d_multilayer"
    echo "multiarch=$d_multiarch"
  } >"$STATE/.digests.tmp"
  chmod 0644 "$STATE/.digests.tmp"
  mv "$STATE/.digests.tmp" "$STATE/digests"
  fixture_stamp >"$STATE/fixtures.stamp"
  log "fixtures: pushed and verified"
}

# ------------------------------------------------------------------ env file

write_env() {
  cat >"$STATE/.env.tmp" <<EOF
REGISTRY=$REGISTRY
AUTH_REGISTRY=$AUTH_REGISTRY
AUTH_USER=$AUTH_USER
AUTH_PASS=$AUTH_PASS
TEST_USER=$TEST_USER
TEST_UID=$TEST_UID
TEST_GID=$TEST_GID
SUBID_START=$SUBID_START
SUBID_COUNT=$SUBID_COUNT
REGISTRY_STORAGE=$STATE/registry
AUTH_REGISTRY_STORAGE=$STATE/registry-auth
OCI_LAYOUTS=$OCI
DIGESTS=$STATE/digests
STATE=$STATE
FIXTURES="${FIXTURES[*]}"
TLS_REGISTRY=$TLS_REGISTRY
TOKEN_REGISTRY=$TOKEN_REGISTRY
TOKEN_REALM_PORT=$TOKEN_REALM_PORT
TOKEN_REALM=http://127.0.0.1:$TOKEN_REALM_PORT/token
TOKEN_SERVICE=$TOKEN_SERVICE
TOKEN_ISSUER=$TOKEN_ISSUER
CERTS_DIR=$CERTS_DIR
CA_CERT=$CA_CERT
SERVER_CERT=$SERVER_CERT
TOKEN_CERT=$TOKEN_CERT
TOKEN_KEY=$TOKEN_KEY
EOF
  chmod 0644 "$STATE/.env.tmp"
  mv "$STATE/.env.tmp" "$STATE/env"
  log "wrote $STATE/env and $STATE/digests"
}

# ------------------------------------------------------------------ commands

require_root() { [[ $(id -u) == 0 ]] || die "run as root"; }

cmd_setup() {
  require_root
  local t0=$SECONDS
  install_packages
  install_bun
  ensure_user
  open_devices
  mkdir -p "$STATE"
  chmod 0755 "$STATE"   # the test user reads env, digests and the layouts
  start_registries
  push_fixtures
  check_shared
  write_env
  log "ready in $((SECONDS - t0))s (state $STATE)"
}

cmd_stop() {
  require_root
  local name
  for name in "${REGISTRIES[@]}"; do stop_registry "$name"; done
}

cmd_status() {
  local name pid rc=0 note
  for name in "${REGISTRIES[@]}"; do
    note="none of ours running"
    pid=$(reg_pid "$name") && note="pid $pid"
    if reg_answers "$name"; then
      log "$name: answering on $(reg_addr "$name") ($note)"
    else
      log "$name: NOT answering on $(reg_addr "$name") ($note)"
      rc=3
    fi
  done
  return $rc
}

case ${1:-setup} in
  setup) cmd_setup ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  *) echo "usage: $0 [setup|stop|status]" >&2; exit 2 ;;
esac
