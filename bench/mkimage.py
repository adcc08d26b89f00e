#!/usr/bin/env python3
"""Helpers for bench/setup.sh's "big" image. Python stdlib only; no tspod code.

  mkimage.py layout LAYER.tar OUT_DIR [REF]
      Make an OCI image layout in OUT_DIR with one gzip layer: LAYER.tar
      (uncompressed) compressed at level 6 with a zero gzip mtime, an amd64/linux
      config whose rootfs.diff_ids is LAYER.tar's digest, tag REF (default
      "latest"). Prints the manifest digest.

  mkimage.py host-layer OUT.tar [MB]
      Fallback when debootstrap cannot fetch: a single layer of about MB
      (default 95, ~50 MB gzip) megabytes of regular-file data taken, in sorted order, from
      this machine's /usr/share and /usr/lib (numeric owners, no device nodes).
"""
import gzip
import hashlib
import json
import os
import shutil
import stat as S
import sys
import tarfile

CREATED = "2024-01-01T00:00:00Z"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


def put_blob(blobs, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return d


def layout(layer_tar, out, ref="latest"):
    if os.path.exists(out):
        shutil.rmtree(out)
    blobs = os.path.join(out, "blobs", "sha256")
    os.makedirs(blobs)
    diff_id = sha256_file(layer_tar)

    tmp_gz = os.path.join(blobs, ".layer.tmp")
    with open(layer_tar, "rb") as src, open(tmp_gz, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6, mtime=0, filename="") as gz:
            shutil.copyfileobj(src, gz, 1 << 20)
    layer_digest = sha256_file(tmp_gz)
    layer_size = os.path.getsize(tmp_gz)
    os.rename(tmp_gz, os.path.join(blobs, layer_digest))

    config = {
        "created": CREATED,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["bash"],
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff_id]},
        "history": [{"created": CREATED, "created_by": "tspod bench/setup.sh big layer"}],
    }
    cfg = json.dumps(config, separators=(",", ":"), sort_keys=True).encode()
    cfg_digest = put_blob(blobs, cfg)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": "sha256:" + cfg_digest, "size": len(cfg)},
        "layers": [{"mediaType": OCI_LAYER_GZ, "digest": "sha256:" + layer_digest, "size": layer_size}],
    }
    man = json.dumps(manifest, separators=(",", ":")).encode()
    man_digest = put_blob(blobs, man)
    index = {
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": OCI_MANIFEST,
            "digest": "sha256:" + man_digest,
            "size": len(man),
            "annotations": {"org.opencontainers.image.ref.name": ref},
        }],
    }
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, separators=(",", ":"))
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print("sha256:" + man_digest)
    print(f"layer: {layer_size} bytes gzip, {os.path.getsize(layer_tar)} bytes tar", file=sys.stderr)


def numeric(ti):
    ti.uname = ti.gname = ""
    return ti


def host_layer(out, megabytes=95):
    budget = megabytes << 20
    total = 0
    tmp = out + ".tmp"
    with tarfile.open(tmp, "w", format=tarfile.GNU_FORMAT) as tar:
        added_dirs = set()

        def add_parents(rel):
            parts = rel.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d not in added_dirs:
                    added_dirs.add(d)
                    tar.add("/" + d, arcname=d, recursive=False, filter=numeric)

        for top in ("/usr/share", "/usr/lib"):
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames.sort()
                for name in sorted(filenames):
                    full = os.path.join(dirpath, name)
                    try:
                        st = os.lstat(full)
                    except OSError:
                        continue
                    if not (S.S_ISREG(st.st_mode) or S.S_ISLNK(st.st_mode)):
                        continue
                    if S.S_ISREG(st.st_mode) and not os.access(full, os.R_OK):
                        continue
                    rel = full.lstrip("/")
                    add_parents(rel)
                    tar.add(full, arcname=rel, recursive=False, filter=numeric)
                    if S.S_ISREG(st.st_mode):
                        total += st.st_size
                    if total >= budget:
                        break
                if total >= budget:
                    break
            if total >= budget:
                break
    os.rename(tmp, out)
    print(f"host layer: {total} bytes of file data", file=sys.stderr)


def main(argv):
    if len(argv) >= 3 and argv[0] == "layout":
        layout(argv[1], argv[2], argv[3] if len(argv) > 3 else "latest")
    elif len(argv) >= 2 and argv[0] == "host-layer":
        host_layer(argv[1], int(argv[2]) if len(argv) > 2 else 95)
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
