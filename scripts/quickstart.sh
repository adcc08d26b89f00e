#!/usr/bin/env bash
# The main job on a fresh Debian 12 machine (as root, no internet needed beyond
# the Debian and npm package registries): set up, build the binary, get an
# image from the local registry and use it as a non-root user.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[[ $(id -u) == 0 ]] || { echo "scripts/quickstart.sh: run as root (it installs packages and creates a test user)" >&2; exit 2; }
bash test/env/setup.sh
# shellcheck disable=SC1091
source "${TSPOD_TEST_STATE:-/var/tmp/tspod-test}/env"
npm ci --no-audit --no-fund --loglevel=error
bun run build
install -m 0755 dist/tspod /usr/local/bin/tspod
echo "[quickstart] installed /usr/local/bin/tspod; now as $TEST_USER:"
as_user() { setpriv --reuid="$TEST_UID" --regid="$TEST_GID" --init-groups env -i HOME="/home/$TEST_USER" PATH=/usr/local/bin:/usr/bin:/bin "$@"; }
set -x
as_user tspod info
as_user tspod pull --tls-verify=false "$REGISTRY/busybox:latest"
as_user tspod images
as_user tspod run --rm "$REGISTRY/busybox:latest" sh -c 'echo "hello from a rootless container: uid $(id -u) in $(hostname), host uid '"$TEST_UID"'"'
