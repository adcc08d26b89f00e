#!/usr/bin/env python3
"""Build tspod's fixture images as OCI image layouts, without any tspod code.

Usage: mkfixtures.py OUTDIR [BUSYBOX]

Writes OUTDIR/<name>/ (an OCI image layout, tag "latest") for:
  busybox     one gzip layer: busybox-static, applet symlinks, users, odd entries
  multilayer  5 layers: busybox, files, whiteout + opaque dir (gzip), zstd, uncompressed
  multiarch   an image index: linux/amd64 and linux/arm64/v8
The Docker v2s2 fixture is made from the busybox layout by skopeo (setup.sh).

Everything is reproducible: fixed mtimes, sorted entries, numeric owners
only, gzip mtime 0, JSON written with a fixed key order; so the same busybox
binary always gives the same digests. Stdlib only, plus the `zstd` CLI for the
zstd layer.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

MTIME = 1704067200  # 2024-01-01T00:00:00Z, every entry's mtime
CREATED = "2024-01-01T00:00:00Z"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"
MT_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_GZIP = MT_TAR + "+gzip"
MT_ZSTD = MT_TAR + "+zstd"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def jdump(obj):
    """Canonical-enough JSON: insertion order, compact separators."""
    return json.dumps(obj, separators=(",", ":")).encode()


# ---------------------------------------------------------------- tar layers

class Layer:
    """Collects tar entries, then writes them sorted by path."""

    def __init__(self):
        self.entries = {}  # path -> (TarInfo, bytes or None)

    def _info(self, path, typ, mode, uid, gid):
        ti = tarfile.TarInfo(path)
        ti.type = typ
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.uname = ti.gname = ""  # numeric owners only
        ti.mtime = MTIME
        return ti

    def dir(self, path, mode=0o755, uid=0, gid=0):
        self.entries[path] = (self._info(path, tarfile.DIRTYPE, mode, uid, gid), None)

    def file(self, path, data, mode=0o644, uid=0, gid=0):
        if isinstance(data, str):
            data = data.encode()
        ti = self._info(path, tarfile.REGTYPE, mode, uid, gid)
        ti.size = len(data)
        self.entries[path] = (ti, data)

    def symlink(self, path, target, uid=0, gid=0):
        ti = self._info(path, tarfile.SYMTYPE, 0o777, uid, gid)
        ti.linkname = target
        self.entries[path] = (ti, None)

    def hardlink(self, path, target):
        # The target must sort before the link (checked in tar()); the header
        # repeats the target's mode and owner, as GNU tar writes them.
        t = self.entries[target][0]
        ti = self._info(path, tarfile.LNKTYPE, t.mode, t.uid, t.gid)
        ti.linkname = target
        self.entries[path] = (ti, None)

    def tar(self):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
            seen = set()
            for path in sorted(self.entries):
                ti, data = self.entries[path]
                if ti.type == tarfile.LNKTYPE and ti.linkname not in seen:
                    raise SystemExit(f"hardlink {path} before its target {ti.linkname}")
                tf.addfile(ti, io.BytesIO(data) if data is not None else None)
                seen.add(path)
        return buf.getvalue()


def compress(raw, media_type):
    if media_type == MT_TAR:
        return raw
    if media_type == MT_GZIP:
        # mtime=0 and no file name in the header: identical bytes every run.
        return gzip.compress(raw, compresslevel=9, mtime=0)
    if media_type == MT_ZSTD:
        return subprocess.run(["zstd", "-q", "-c", "-19", "--no-progress"],
                              input=raw, stdout=subprocess.PIPE, check=True).stdout
    raise ValueError(media_type)


# ---------------------------------------------------------------- OCI layout

class Layout:
    """An OCI image layout directory: oci-layout, index.json, blobs/sha256/."""

    def __init__(self, root):
        if os.path.exists(root):
            shutil.rmtree(root)
        os.makedirs(os.path.join(root, "blobs", "sha256"))
        self.root = root
        with open(os.path.join(root, "oci-layout"), "wb") as f:
            f.write(jdump({"imageLayoutVersion": "1.0.0"}))

    def blob(self, data, media_type, **extra):
        digest = sha256(data)
        path = os.path.join(self.root, "blobs", "sha256", digest[7:])
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
        desc = {"mediaType": media_type, "digest": digest, "size": len(data)}
        desc.update(extra)
        return desc

    def image(self, layers, arch="amd64", variant=None, cmd=("sh",)):
        """layers: list of (Layer, media_type, created_by). Returns the manifest descriptor."""
        layer_descs, diff_ids, history = [], [], []
        for layer, media_type, created_by in layers:
            raw = layer.tar()
            diff_ids.append(sha256(raw))
            layer_descs.append(self.blob(compress(raw, media_type), media_type))
            history.append({"created": CREATED, "created_by": created_by})
        config = {"created": CREATED, "architecture": arch, "os": "linux"}
        if variant:
            config["variant"] = variant
        config["config"] = {"Env": [PATH_ENV], "Cmd": list(cmd), "WorkingDir": "/"}
        config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        config["history"] = history
        manifest = {
            "schemaVersion": 2,
            "mediaType": MT_MANIFEST,
            "config": self.blob(jdump(config), MT_CONFIG),
            "layers": layer_descs,
        }
        platform = {"architecture": arch, "os": "linux"}
        if variant:
            platform["variant"] = variant
        return self.blob(jdump(manifest), MT_MANIFEST, platform=platform)

    def index(self, manifests):
        idx = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": manifests}
        return self.blob(jdump(idx), MT_INDEX)

    def tag(self, desc, tag="latest"):
        """Write index.json naming desc (a manifest or an index) as tag."""
        entry = {k: v for k, v in desc.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": tag}
        top = {"schemaVersion": 2, "manifests": [entry]}
        with open(os.path.join(self.root, "index.json"), "wb") as f:
            f.write(jdump(top))


# ---------------------------------------------------------------- fixtures

def busybox_layer(busybox):
    with open(busybox, "rb") as f:
        bb = f.read()
    applets = subprocess.run([busybox, "--list"], stdout=subprocess.PIPE,
                             check=True, text=True).stdout.split()
    L = Layer()
    for d in ("bin", "etc", "home", "usr", "var"):
        L.dir(d)
    L.dir("root", 0o700)
    L.dir("tmp", 0o1777)
    L.file("bin/busybox", bb, 0o755)
    for a in applets:
        if a != "busybox" and "/" not in a:
            L.symlink("bin/" + a, "busybox")
    L.hardlink("bin/busybox-hard", "bin/busybox")
    L.file("bin/suid-test", "#!/bin/sh\necho suid-test\n", 0o4755)
    L.file("etc/passwd",
           "root:x:0:0:root:/root:/bin/sh\n"
           "www-data:x:33:33:www-data:/home/www:/bin/sh\n"
           "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    L.file("etc/group", "root:x:0:\nwww-data:x:33:\nnogroup:x:65534:\n")
    L.symlink("etc/abs-link", "/etc/passwd")
    L.dir("home/www", 0o755, 33, 33)
    L.file("home/www/index.html", "<h1>tspod fixture</h1>\n", 0o644, 33, 33)
    return L


def build(out, busybox):
    os.makedirs(out, exist_ok=True)
    base = busybox_layer(busybox)
    base_step = (base, MT_GZIP, "ADD busybox-static rootfs /")

    # a. busybox: one gzip layer
    lay = Layout(os.path.join(out, "busybox"))
    lay.tag(lay.image([base_step]))

    # c. multilayer: deletions by whiteout and an opaque directory, then a
    #    zstd layer and an uncompressed layer.
    l2 = Layer()
    l2.dir("data")
    l2.file("data/keep", "keep\n")
    l2.file("data/gone", "gone\n")
    l2.dir("opq")
    l2.file("opq/old1", "old1\n")
    l2.file("opq/old2", "old2\n")
    l3 = Layer()
    l3.dir("data")
    l3.file("data/.wh.gone", "")
    l3.dir("opq")
    l3.file("opq/.wh..wh..opq", "")
    l3.file("opq/new", "new\n")
    l4 = Layer()
    l4.file("zstd-marker", "zstd\n")
    l5 = Layer()
    l5.file("plain-marker", "plain\n")
    lay = Layout(os.path.join(out, "multilayer"))
    lay.tag(lay.image([
        base_step,
        (l2, MT_GZIP, "ADD data opq"),
        (l3, MT_GZIP, "RUN rm /data/gone && rm -rf /opq && mkdir /opq && echo new > /opq/new"),
        (l4, MT_ZSTD, "ADD zstd-marker /"),
        (l5, MT_TAR, "ADD plain-marker /"),
    ]))

    # d. multiarch: an index with linux/amd64 and linux/arm64/v8.
    lay = Layout(os.path.join(out, "multiarch"))
    manifests = []
    for arch, variant in (("amd64", None), ("arm64", "v8")):
        la = Layer()
        la.file("arch", arch + "\n")
        manifests.append(lay.image(
            [base_step, (la, MT_GZIP, "ADD arch /")], arch=arch, variant=variant))
    lay.tag(lay.index(manifests))


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    build(sys.argv[1], sys.argv[2] if len(sys.argv) == 3 else "/bin/busybox")
