# shellcheck shell=bash disable=SC2086  # sourced by run.sh
# push-big: the ~47 MB one-layer image, pulled from :5000 into each store, pushed
# to the Basic-auth registry (:5001, a storage of its own: nothing to mount
# from). Before every run --prepare unlinks from the destination repository every
# blob its manifest names (DELETE /v2/REPO/blobs/DIGEST), so each push finds no
# blob there and uploads all of them. tspod sends the stored blob as pulled;
# Podman recompresses the layer (another digest, unlinked the same way). No goal
# in an issue: shown for the record.
row_push_big() {
  local src=$REGISTRY/big:latest missing
  local t_dst=$AUTH_REGISTRY/bench-push/tspod:latest p_dst=$AUTH_REGISTRY/bench-push/podman:latest
  local creds="$AUTH_USER:$AUTH_PASS"
  local prep="$WORK/scratch/push-unlink.sh"
  cat >"$prep" <<PREP
#!/bin/sh
# unlink-blobs REPO: every blob the repository's latest manifest names, unlinked from it
repo=\$1
m=\$(curl -fsS -u '$creds' -H 'Accept: application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' "http://$AUTH_REGISTRY/v2/\$repo/manifests/latest" 2>/dev/null) || exit 0
for d in \$(printf '%s' "\$m" | grep -o 'sha256:[0-9a-f]\{64\}'); do
  curl -fsS -o /dev/null -u '$creds' -X DELETE "http://$AUTH_REGISTRY/v2/\$repo/blobs/\$d" || true
done
PREP
  chmod 755 "$prep"
  as_user $PODMAN pull -q --tls-verify=false "$src" >/dev/null || return 1
  missing=$(tspod_missing push pull)
  if [[ -n $missing ]]; then
    hf push-big -N --warmup 1 --runs 6 --prepare "$prep bench-push/podman" -n podman "$PODMAN push -q --tls-verify=false --creds $creds $src $p_dst" || return 1
    report_skip push-big podman "-" "tspod has no \`$missing\` yet" push-big podman
    return
  fi
  as_user $TSPOD pull -q --tls-verify=false "$src" >/dev/null || return 1
  hf push-big -N --warmup 1 --runs 6 \
    --prepare "$prep bench-push/tspod" -n tspod "$TSPOD push -q --tls-verify=false --creds $creds $src $t_dst" \
    --prepare "$prep bench-push/podman" -n podman "$PODMAN push -q --tls-verify=false --creds $creds $src $p_dst" || return 1
  report push-big push-big tspod podman podman "-"
  push_forget
}

# The bench's repositories and their blobs leave the auth registry's storage
# (~100 MB: the layer as pulled and Podman's recompressed one; no fixture uses them).
push_forget() {
  local v2=$AUTH_REGISTRY_STORAGE/docker/registry/v2 d hex
  for d in $(cat "$v2"/repositories/bench-push/*/_manifests/revisions/sha256/*/link 2>/dev/null) \
    $(ls "$v2"/repositories/bench-push/*/_layers/sha256 2>/dev/null | grep -E '^[0-9a-f]{64}$'); do
    hex=${d#sha256:}
    rm -rf "$v2/blobs/sha256/${hex:0:2}/$hex"
  done
  rm -rf "$v2/repositories/bench-push"
}
register row_push_big push-big
