// Pulls that go wrong on purpose, end to end against the real registry: malicious
// layers, blobs corrupted in the registry's storage, kill -9 in the middle, progress
// output on and off a terminal, registries.conf short names / blocks / mirrors, and
// schema 1 manifests. Test images are made here (test/helpers/oci.ts) and pushed with
// skopeo under repository names unique to this run; root and rootless.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { deleteFromRegistry, pushImage, registryBlobPath, sha256hex, uniqueRepo, type BuiltImage, type LayerSpec } from "../helpers/oci.ts";
import { TarWriter } from "../helpers/tarwriter.ts";
import { startProxy } from "../helpers/registry-fakes.ts";
import { ENV, errorLines, expectOneError, MODES, REGISTRY, sandboxes, type Sandbox } from "../helpers/tspod.ts";

const NOTLS = "--tls-verify=false";
const S = `${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
const STORAGE = ENV.REGISTRY_STORAGE;

const box = sandboxes();

// Everything this file pushed, removed from the registry's storage at the end (blobs only
// when no other repository links them).
const pushed: (BuiltImage & { name: string })[] = [];
function push(what: string, layers: (Uint8Array | LayerSpec)[], tag = "latest", config?: Record<string, unknown>): BuiltImage & { ref: string; name: string } {
  const name = uniqueRepo(what);
  const img = { ...pushImage(name, layers, { tag, config }), name };
  pushed.push(img);
  return img;
}
const outsidePaths: string[] = [];
const servers: { stop(force?: boolean): void }[] = [];

afterAll(() => {
  for (const s of servers) s.stop(true);
  for (const p of outsidePaths) rmSync(p, { recursive: true, force: true });
  deleteFromRegistry(STORAGE, pushed.map((img) => ({ name: img.name, digests: [img.manifest.digest, img.config.digest, ...img.layers.map((l) => l.digest)] })));
});



/** What the store holds: images/, layers/, blobs/ (names, recursively for layers' top level) and tmp/. */
function snapshot(b: Sandbox) {
  const ls = (d: string) => (existsSync(join(b.root, d)) ? readdirSync(join(b.root, d)).sort() : []);
  return {
    images: ls("images"),
    layers: ls("layers").map((l) => `${l}:${ls(`layers/${l}`).join(",")}`),
    blobs: ls("blobs/sha256").map((n) => `${n}:${statSync(join(b.root, "blobs/sha256", n)).size}`),
    tmp: ls("tmp"),
  };
}

/** Exists, without following a final symlink. */
function lexists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

const layerDir = (b: Sandbox, diffID: string) => join(b.root, "layers", diffID.slice(7));

// ---------------------------------------------------------------------------------------------
// 2. Malicious layers through a real pull

interface EvilCase {
  name: string;
  layer: () => Uint8Array;
  /** paths outside the layer that must not appear (beyond the ones checked for every case) */
  outside: (b: Sandbox) => string[];
  /** undefined: the pull must succeed, and check() looks inside the layer; else the error expected */
  refused?: RegExp;
  check?: (diff: string, b: Sandbox) => void;
}

const OUTSIDE_DIR = `/tmp/tspod-outside-${S}`;
const passwdBefore = { hash: sha256hex(readFileSync("/etc/passwd")), nlink: statSync("/etc/passwd").nlink, ino: statSync("/etc/passwd").ino };

const EVIL: EvilCase[] = [
  {
    name: "../ entries",
    layer: () =>
      new TarWriter()
        .file(`../escape-${S}`, "dotdot\n")
        .file(`../../escape-${S}`, "dotdot2\n")
        .file(`../../../../../../../../../../../../tmp/escape-deep-${S}`, "deep\n")
        .dir("sub/")
        .file(`sub/../../escape-sub-${S}`, "sub\n")
        .end(),
    outside: (b) => [`/tmp/escape-deep-${S}`, `/tmp/escape-${S}`, join(b.root, `escape-${S}`), join(b.root, "tmp", `escape-${S}`), join(b.root, "layers", `escape-${S}`), join(b.root, `escape-sub-${S}`)],
    check: (diff) => {
      // `..` stops at the layer root: the entries land at the top of the layer
      expect(readFileSync(join(diff, `escape-${S}`), "utf8")).toBe("dotdot2\n");
      expect(readFileSync(join(diff, `tmp/escape-deep-${S}`), "utf8")).toBe("deep\n");
      expect(readFileSync(join(diff, `escape-sub-${S}`), "utf8")).toBe("sub\n");
    },
  },
  {
    name: "absolute path",
    layer: () => new TarWriter().file(`/tmp/abs-${S}`, "abs\n").file(`/abs-top-${S}`, "top\n").end(),
    outside: () => [`/tmp/abs-${S}`, `/abs-top-${S}`],
    check: (diff) => {
      expect(readFileSync(join(diff, `tmp/abs-${S}`), "utf8")).toBe("abs\n");
      expect(readFileSync(join(diff, `abs-top-${S}`), "utf8")).toBe("top\n");
    },
  },
  {
    name: "symlink to an absolute outside dir, then a write through it",
    layer: () => new TarWriter().file(`id-${S}`, "x").symlink("link", OUTSIDE_DIR).file("link/pwned", "pwned\n").end(),
    outside: () => [join(OUTSIDE_DIR, "pwned")],
    // the link resolves inside the layer, where that directory does not exist
    refused: /link\/pwned.*inside the layer/,
  },
  {
    name: "symlink to ../../.. then a write through it",
    layer: () =>
      new TarWriter()
        .symlink("up", "../../..")
        .file(`up/up-${S}`, "up\n")
        .symlink("deep", "../../../../../../../../../../..")
        .file(`deep/tmp/deep-${S}`, "deep\n")
        .dir("a/")
        .symlink("a/b", "../..")
        .file(`a/b/ab-${S}`, "ab\n")
        .end(),
    outside: (b) => [join(b.root, `up-${S}`), join(b.root, "tmp", `up-${S}`), join(b.root, "layers", `up-${S}`), `/tmp/deep-${S}`, `/ab-${S}`, join(b.root, `ab-${S}`), join(b.root, "layers", `ab-${S}`)],
    check: (diff) => {
      // symlinks are kept as written; writes through them resolve as if the layer were /
      expect(readlinkSync(join(diff, "up"))).toBe("../../..");
      expect(readlinkSync(join(diff, "deep"))).toBe("../../../../../../../../../../..");
      expect(readFileSync(join(diff, `up-${S}`), "utf8")).toBe("up\n");
      expect(readFileSync(join(diff, `tmp/deep-${S}`), "utf8")).toBe("deep\n");
      expect(readFileSync(join(diff, `ab-${S}`), "utf8")).toBe("ab\n");
    },
  },
  {
    name: "hard link to /etc/passwd (not in the layer)",
    layer: () => new TarWriter().file(`id-${S}`, "x").hardlink("hl", "/etc/passwd").file("hl", "overwritten\n").end(),
    outside: () => [],
    refused: /hl.*hard link target inside the layer/,
  },
  {
    name: "hard links to /etc/passwd and ../../etc/passwd with the layer's own /etc/passwd",
    layer: () =>
      new TarWriter()
        .dir("etc/")
        .file("etc/passwd", `layer-${S}\n`)
        .hardlink("hl", "/etc/passwd")
        .hardlink("hl2", "../../../../../../../../etc/passwd")
        .file("hl", "overwritten\n")
        .end(),
    outside: () => [],
    check: (diff) => {
      const own = lstatSync(join(diff, "etc/passwd"));
      expect(own.ino).not.toBe(passwdBefore.ino);
      // both links point at the layer's file, not the host's
      expect(lstatSync(join(diff, "hl2")).ino).toBe(own.ino);
      // a later entry replaces the link, it never writes through it
      expect(readFileSync(join(diff, "hl"), "utf8")).toBe("overwritten\n");
      expect(lstatSync(join(diff, "hl")).ino).not.toBe(own.ino);
      expect(readFileSync(join(diff, "etc/passwd"), "utf8")).toBe(`layer-${S}\n`);
    },
  },
];

describe.each(MODES)("malicious layers through a real pull (%s)", (mode) => {
  const b = box(mode);
  const images = new Map<string, ReturnType<typeof push>>();
  beforeAll(() => {
    mkdirSync(OUTSIDE_DIR, { recursive: true });
    chmodSync(OUTSIDE_DIR, 0o777); // so that an escape would succeed rootless too
    outsidePaths.push(OUTSIDE_DIR);
    for (const c of EVIL) images.set(c.name, push(`evil-${mode}`, [c.layer()]));
  });

  test.each(EVIL.map((c) => [c.name, c] as const))("%s: nothing lands outside the layer root", async (_name, c) => {
    const img = images.get(c.name)!;
    const before = snapshot(b);
    const outsideBefore = readdirSync(OUTSIDE_DIR);
    const r = await b.run(["pull", NOTLS, img.ref]);
    // nothing outside: the listed paths, the outside dir, the host's /etc/passwd, the store around the layer
    for (const p of c.outside(b)) expect([p, lexists(p)]).toEqual([p, false]);
    expect(readdirSync(OUTSIDE_DIR)).toEqual(outsideBefore);
    expect(sha256hex(readFileSync("/etc/passwd"))).toBe(passwdBefore.hash);
    expect(statSync("/etc/passwd").nlink).toBe(passwdBefore.nlink);
    expect(readdirSync(b.root).sort()).toEqual(["blobs", "images", "layers", "locks", "tmp"]);
    expect(readdirSync(join(b.root, "tmp"))).toEqual([]);
    if (c.refused) {
      expectOneError(r, c.refused);
      expect(errorLines(r)[0]).toContain(img.layers[0].digest);
      const after = snapshot(b);
      expect(after).toEqual(before);
      expect((await b.run(["image", "exists", img.ref])).code).toBe(1);
    } else {
      expect(r.stderr).not.toContain("Error");
      expect(r.code).toBe(0);
      expect(r.stdout.trim()).toBe(img.id);
      const dir = layerDir(b, img.layers[0].diffID);
      // the layer directory holds only its diff and its record
      expect(readdirSync(dir).sort()).toEqual(["diff", "layer.json"]);
      c.check!(join(dir, "diff"), b);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3. Blobs corrupted in the registry's storage

/** Overwrite a blob's data file with bytes of the same length; returns a function that restores it. */
function corrupt(digest: string, how: (orig: Buffer) => Buffer): () => void {
  const p = registryBlobPath(STORAGE, digest);
  const orig = readFileSync(p);
  const bad = how(Buffer.from(orig));
  expect(bad.length).toBe(orig.length);
  expect(bad.equals(orig)).toBe(false);
  writeFileSync(p, bad);
  return () => writeFileSync(p, orig);
}

const flipMiddle = (b: Buffer) => {
  for (let i = 0; i < 16; i++) b[(b.length >> 1) + i] ^= 0xff;
  return b;
};
const flipAll = (b: Buffer) => {
  for (let i = 0; i < b.length; i++) b[i] ^= 0xff;
  return b;
};

describe.each(MODES)("corrupted blobs in the registry (%s)", (mode) => {
  const b = box(mode);
  beforeAll(async () => {
    // something in the store already, so "unchanged" means something
    await b.ok(["pull", "-q", NOTLS, `${REGISTRY}/busybox:latest`]);
  });

  test.each([
    ["a few bytes in the middle", flipMiddle],
    ["every byte (not even gzip any more)", flipAll],
  ] as const)("layer blob, %s: digest error, store unchanged", async (_what, how) => {
    const img = push(`corrupt-layer-${mode}`, [new TarWriter().file(`data-${S}.bin`, randomBytes(300_000)).end()]);
    const before = snapshot(b);
    const restore = corrupt(img.layers[0].digest, how);
    try {
      const r = await b.run(["pull", NOTLS, img.ref]);
      expectOneError(r, /digest mismatch/);
      expect(errorLines(r)[0]).toContain(img.layers[0].digest);
      expect(snapshot(b)).toEqual(before);
      expect(before.tmp).toEqual([]);
      expect((await b.run(["image", "exists", img.ref])).code).toBe(1);
    } finally {
      restore();
    }
    // restored: the same pull works
    expect((await b.ok(["pull", "-q", NOTLS, img.ref])).trim()).toBe(img.id);
    await b.ok(["rmi", img.ref]);
  });

  test("config blob: digest error, store unchanged", async () => {
    const img = push(`corrupt-config-${mode}`, [new TarWriter().file(`cfg-${S}`, randomBytes(1000)).end()]);
    const before = snapshot(b);
    const restore = corrupt(img.config.digest, (buf) => {
      const s = buf.toString("latin1").replace('"amd64"', '"amd65"');
      return Buffer.from(s, "latin1");
    });
    try {
      const r = await b.run(["pull", NOTLS, img.ref]);
      expectOneError(r, /digest mismatch/);
      expect(errorLines(r)[0]).toContain(img.config.digest);
      expect(snapshot(b)).toEqual(before);
      expect(before.tmp).toEqual([]);
    } finally {
      restore();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// 3b. A config that does not fit its manifest. The config is fetched while the
// layers download (pull.ts): its failure must stop them and leave nothing.

describe.each(MODES)("configs that do not fit (%s)", (mode) => {
  const b = box(mode);
  beforeAll(async () => {
    await b.ok(["pull", "-q", NOTLS, `${REGISTRY}/busybox:latest`]);
  });
  const layer = () => new TarWriter().file(`payload-${S}.bin`, randomBytes(4 << 20)).end();
  test.each([
    ["another OS", { os: "windows" }, /image is for windows, not linux/],
    ["fewer diff ids than layers", { rootfs: { type: "layers", diff_ids: [] } }, /config lists 0 diff ids for 1 layers/],
    ["a wrong diff id", { rootfs: { type: "layers", diff_ids: [`sha256:${"0".repeat(64)}`] } }, /diff id mismatch/],
  ] as const)("%s: one clear error, exit 125, store unchanged", async (_what, config, re) => {
    const img = push(`badcfg-${mode}`, [layer()], "latest", config as Record<string, unknown>);
    const before = snapshot(b);
    const r = await b.run(["pull", NOTLS, img.ref]);
    expectOneError(r, re);
    expect(snapshot(b)).toEqual(before);
    expect(before.tmp).toEqual([]);
    expect((await b.run(["image", "exists", img.ref])).code).toBe(1);
  });
});

describe.each(MODES)("one image, two manifests (%s)", (mode) => {
  const b = box(mode);
  test("the same config pulled as gzip under one name and uncompressed under another: garbage collection keeps both manifests' blobs", async () => {
    const tar = new TarWriter().file(`two-${S}-${mode}`, randomBytes(100_000)).end();
    const gz = push(`two-gz-${mode}`, [{ tar }]);
    const plain = push(`two-plain-${mode}`, [{ tar, compression: "none" }]);
    expect(plain.id).toBe(gz.id); // same config (same diff ids), another manifest
    expect(plain.layers[0].digest).not.toBe(gz.layers[0].digest);
    await b.ok(["pull", "-q", NOTLS, gz.ref]);
    await b.ok(["pull", "-q", NOTLS, plain.ref]);
    // something else comes and goes: a collection runs
    const other = push(`two-other-${mode}`, [new TarWriter().file(`o-${S}`, "o").end()]);
    await b.ok(["pull", "-q", NOTLS, other.ref]);
    await b.ok(["rmi", other.ref]);
    for (const img of [gz, plain]) {
      for (const d of [img.manifest.digest, img.config.digest, img.layers[0].digest]) {
        expect([d, existsSync(join(b.root, "blobs/sha256", d.slice(7)))]).toEqual([d, true]);
      }
    }
    expect(existsSync(join(b.root, "blobs/sha256", other.layers[0].digest.slice(7)))).toBe(false);
    await b.ok(["rmi", gz.ref, plain.ref]);
  });
});

describe.each(MODES)("layers that are not what the manifest says (%s)", (mode) => {
  const b = box(mode);
  beforeAll(async () => {
    await b.ok(["pull", "-q", NOTLS, `${REGISTRY}/busybox:latest`]);
  });
  const tar = (n: string) => new TarWriter().file(`${n}-${S}.bin`, randomBytes(200_000)).end();
  const GZ = "application/vnd.oci.image.layer.v1.tar+gzip";
  const ZST = "application/vnd.oci.image.layer.v1.tar+zstd";
  const TAR = "application/vnd.oci.image.layer.v1.tar";
  // The helper says what the bytes are (gzip, zstd or tar, by their magic numbers,
  // as containers/image does); the first layer's helper starts before the manifest
  // is read, later ones after: both are checked the same way.
  test.each([
    ["first layer: a plain tar called gzip", () => [{ tar: tar("a"), compression: "none", mediaType: GZ }], /the blob is not compressed but the manifest says application\/vnd.oci.image.layer.v1.tar\+gzip/],
    ["second layer: gzip called a plain tar", () => [tar("b"), { tar: tar("c"), mediaType: TAR }], /the blob is gzip but the manifest says application\/vnd.oci.image.layer.v1.tar$/],
    ["gzip called zstd", () => [{ tar: tar("d"), mediaType: ZST }], /the blob is gzip but the manifest says application\/vnd.oci.image.layer.v1.tar\+zstd/],
  ] as const)("%s: one clear error, exit 125, store unchanged", async (_what, layers, re) => {
    const img = push(`mediatype-${mode}`, layers() as (Uint8Array | LayerSpec)[]);
    const before = snapshot(b);
    const r = await b.run(["pull", NOTLS, img.ref]);
    expectOneError(r, re);
    const after = snapshot(b);
    // A good layer of the same image may be kept (as containers/storage keeps it): no
    // image record, no temp files; with one layer, nothing at all.
    if (img.layers.length === 1) expect(after).toEqual(before);
    expect(after.images).toEqual(before.images);
    expect(after.tmp).toEqual([]);
    expect((await b.run(["image", "exists", img.ref])).code).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// 4. kill -9 in the middle of a pull; two pulls of the same big image at once

const BIG = randomBytes(16 << 20); // incompressible: the pull takes a while
const BIG_SHA = sha256hex(BIG);
let big: ReturnType<typeof push> | undefined;
const bigImage = () => (big ??= push("big", [new TarWriter().dir("big/").file("big/random.bin", BIG).file("big/small", "small\n").end()]));

/**
 * A pull of NAME:latest through a proxy that holds the download of one of its
 * blobs; returns once that request has come. finish() lets it go and gives
 * the pull's output and exit code.
 */
async function heldPull(b: Sandbox, name: string, digest: string) {
  let release!: () => void;
  const hold = new Promise<void>((r) => (release = r));
  const path = `/v2/${name}/blobs/${digest}`;
  const proxy = await startProxy(Number(REGISTRY.split(":")[1]), (r) => (r.path === path ? { hold } : undefined));
  servers.push({ stop: () => void proxy.stop() });
  const ref = `127.0.0.1:${proxy.port}/${name}:latest`;
  const p = Bun.spawn(b.tspodArgs(["pull", "-q", NOTLS, ref]), { stdout: "pipe", stderr: "pipe", cwd: "/" });
  for (let i = 0; i < 500 && !proxy.requests.some((r) => r.path === path); i++) await Bun.sleep(10);
  expect(proxy.requests.some((r) => r.path === path)).toBe(true);
  const finish = async () => {
    release();
    return { out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text(), code: await p.exited };
  };
  return { ref, finish };
}

describe.each(MODES)("interrupted and concurrent pulls (%s)", (mode) => {
  const b = box(mode);

  test.each(["unpack-dies", "unpack-dies-midway"])("the helper dies (%s, 16 MiB to send): one clean error, no EPIPE trace, store unchanged", async (failpoint) => {
    const img = bigImage();
    const before = snapshot(b);
    for (let i = 0; i < 3; i++) {
      const r = await b.run(["pull", NOTLS, img.ref], { env: { TSPOD_RT_FAILPOINT: failpoint } });
      expectOneError(r, /^Error: layer sha256:[0-9a-f]{64}: unpacking failed \(exit 3\)$/);
      expect(r.stderr).not.toMatch(/EPIPE|broken pipe|    at /);
      expect(snapshot(b)).toEqual(before);
    }
  });

  test.each([
    ["SIGINT", 130],
    ["SIGHUP", 129],
    ["SIGTERM", 143],
  ] as const)("%s in the middle (Ctrl-C, the terminal closed, kill): exit %d, helpers gone, this pull's temp files removed", async (sig, code) => {
    const img = push(`${sig.toLowerCase()}-${mode}`, [new TarWriter().file(`${sig}-${S}-${mode}`, randomBytes(200_000)).end()]);
    const blobPath = `/v2/${img.name}/blobs/${img.layers[0].digest}`;
    const never = new Promise<void>(() => {});
    const proxy = await startProxy(Number(REGISTRY.split(":")[1]), (r) => (r.path === blobPath ? { hold: never } : undefined));
    servers.push({ stop: () => void proxy.stop() });
    const ref = `127.0.0.1:${proxy.port}/${img.name}:latest`;
    const tmp = join(b.root, "tmp");
    const p = Bun.spawn(b.tspodArgs(["pull", NOTLS, ref]), { stdout: "pipe", stderr: "pipe", cwd: "/" });
    for (let i = 0; i < 500 && !proxy.requests.some((r) => r.path === blobPath); i++) await Bun.sleep(10);
    expect(proxy.requests.some((r) => r.path === blobPath)).toBe(true);
    expect(readdirSync(tmp).some((n) => n.includes(`-${p.pid}-`))).toBe(true); // the helper's layer dir, its blob file
    const helpers = () =>
      readdirSync("/proc").filter((d) => {
        try {
          return /^\d+$/.test(d) && readFileSync(`/proc/${d}/cmdline`, "utf8").includes(`${tmp}/layer-${p.pid}-`);
        } catch {
          return false;
        }
      });
    expect(helpers().length).toBeGreaterThan(0);
    p.kill(sig);
    expect(await p.exited).toBe(code);
    expect(readdirSync(tmp)).toEqual([]);
    for (let i = 0; i < 50 && helpers().length; i++) await Bun.sleep(20);
    expect(helpers()).toEqual([]);
    expect((await b.run(["image", "exists", img.ref])).code).toBe(1);
  });

  test("garbage collection also takes what dead processes left in tmp/, and nothing of live ones", async () => {
    const img = push(`gc-tmp-${mode}`, [new TarWriter().file(`gc-${S}-${mode}`, "x").end()]);
    await b.ok(["pull", "-q", NOTLS, img.ref]);
    const tmp = join(b.root, "tmp");
    const dead = Bun.spawnSync(["true"]).pid; // gone (and reaped) by now
    const made = {
      [`layer-${dead}-abcdefgh`]: "dir",
      [`blob-${dead}-abcdefgh`]: "file",
      [`stale-layer-${dead}-abcdefgh`]: "dir",
      [`layer-${process.pid}-abcdefgh`]: "dir", // a live process's
      [`trash-${"a".repeat(64)}`]: dead, // a container's files whose monitor died
      [`trash-${"b".repeat(64)}`]: process.pid, // whose monitor still runs
      "something-else": "dir", // not ours to judge
    };
    for (const [n, what] of Object.entries(made)) {
      const pth = join(tmp, n);
      if (what === "file") writeFileSync(pth, "partial");
      else mkdirSync(pth);
      if (typeof what === "number") writeFileSync(join(pth, "monitor.pid"), `${what}\n`);
    }
    Bun.spawnSync(["chown", "-R", `${b.uid}:${b.gid}`, tmp]);
    await b.ok(["rmi", img.ref]);
    expect(readdirSync(tmp).sort()).toEqual([`layer-${process.pid}-abcdefgh`, "something-else", `trash-${"b".repeat(64)}`].sort());
    for (const n of readdirSync(tmp)) rmSync(join(tmp, n), { recursive: true, force: true });
  });

  test("rmi during a pull that uses a stored layer: the layer stays until the pulled image is saved", async () => {
    const shared = new TarWriter().file(`shared-${S}-${mode}`, randomBytes(50_000)).end();
    const first = push(`shared-a-${mode}`, [shared]);
    const second = push(`shared-b-${mode}`, [shared, new TarWriter().file(`own-${S}-${mode}`, randomBytes(300_000)).end()]);
    expect(second.layers[0].digest).toBe(first.layers[0].digest);
    await b.ok(["pull", "-q", NOTLS, first.ref]);
    // the second image through a proxy that holds its own layer's download until rmi is done
    const { ref, finish } = await heldPull(b, second.name, second.layers[1].digest);
    // the first image goes; its layer is the pulled image's first
    await b.ok(["rmi", first.ref]);
    const { out, err, code } = await finish();
    expect([code, err]).toEqual([0, ""]);
    expect(out.trim()).toBe(second.id);
    for (const l of second.layers) expect([l.diffID, existsSync(join(layerDir(b, l.diffID), "diff"))]).toEqual([l.diffID, true]);
    // and with the pulled image gone too, the collection that was put off happens
    await b.ok(["rmi", ref]);
    for (const l of second.layers) expect([l.diffID, existsSync(layerDir(b, l.diffID))]).toEqual([l.diffID, false]);
  });

  test("rmi and image prune during a pull: the collection they put off happens when the pull ends, with no other command", async () => {
    const gone = push(`gc-gone-${mode}`, [new TarWriter().file(`gone-${S}-${mode}`, randomBytes(60_000)).end()]);
    const pruned = push(`gc-pruned-${mode}`, [new TarWriter().file(`pruned-${S}-${mode}`, randomBytes(60_000)).end()]);
    const held = push(`gc-held-${mode}`, [new TarWriter().file(`held-${S}-${mode}`, randomBytes(200_000)).end()]);
    await b.ok(["pull", "-q", NOTLS, gone.ref]);
    await b.ok(["pull", "-q", NOTLS, pruned.ref]);
    const { ref, finish } = await heldPull(b, held.name, held.layers[0].digest);
    // both go from the list at once; their layers and blobs stay while the pull runs
    await b.ok(["rmi", gone.ref]);
    await b.ok(["untag", pruned.id]);
    expect((await b.ok(["image", "prune", "-f"])).trim()).toBe(pruned.id);
    const leftovers = () =>
      [...gone.layers, ...pruned.layers].flatMap((l) => [layerDir(b, l.diffID), join(b.root, "blobs/sha256", l.digest.slice(7))]).concat([gone, pruned].map((i) => join(b.root, "blobs/sha256", i.config.digest.slice(7)))).filter((f) => existsSync(f));
    expect(leftovers().length).toBe(6);
    const { out, err, code } = await finish();
    expect([code, err]).toEqual([0, ""]);
    expect(out.trim()).toBe(held.id);
    expect(leftovers()).toEqual([]);
    expect(existsSync(join(b.root, "locks/gc.pending"))).toBe(false);
    // what the pull stored stays
    expect(existsSync(join(layerDir(b, held.layers[0].diffID), "diff"))).toBe(true);
    await b.ok(["rmi", ref]);
  });

  test("kill -9 in the middle, then the same pull succeeds and cleans the dead pull's temp files", async () => {
    const img = bigImage();
    const p = Bun.spawn(b.tspodArgs(["pull", NOTLS, img.ref]), { stdout: "pipe", stderr: "pipe", cwd: "/" });
    const tmp = join(b.root, "tmp");
    // wait until the download is under way: a temp entry with bytes in it
    let partial = -1;
    const end = Date.now() + 30_000;
    while (Date.now() < end && partial < 0 && p.exitCode === null) {
      try {
        for (const n of readdirSync(tmp)) {
          if (!n.startsWith("blob-")) continue;
          const size = statSync(join(tmp, n)).size;
          if (size > 0) partial = size;
        }
      } catch {}
      if (partial < 0) await Bun.sleep(2);
    }
    p.kill("SIGKILL");
    await p.exited;
    expect(p.signalCode).toBe("SIGKILL");
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThan(img.layers[0].size);
    // the dead pull left temp entries behind (named with its pid) and no image
    const left = readdirSync(tmp);
    expect(left.length).toBeGreaterThan(0);
    expect(left.every((n) => n.includes(`-${p.pid}-`))).toBe(true);
    expect(readdirSync(join(b.root, "images")).filter((n) => n.endsWith(".json"))).toEqual([]);
    expect((await b.run(["image", "exists", img.ref])).code).toBe(1);
    expect(existsSync(layerDir(b, img.layers[0].diffID))).toBe(false);
    // had it died inside an atomic write (atomic.ts: `.tmp-NAME-PID-...` beside the real name),
    // that litter goes too
    const litter = [join(b.root, "blobs/sha256", `.tmp-${img.config.digest.slice(7)}-${p.pid}-x-0`), join(b.root, "images", `.tmp-${img.id}.json-${p.pid}-x-1`)];
    for (const f of litter) {
      writeFileSync(f, "half-written");
      chownSync(f, b.uid, b.gid);
    }

    const r = await b.run(["pull", "-q", NOTLS, img.ref]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(img.id);
    const diff = join(layerDir(b, img.layers[0].diffID), "diff");
    expect(sha256hex(readFileSync(join(diff, "big/random.bin")))).toBe(BIG_SHA);
    expect(readFileSync(join(diff, "big/small"), "utf8")).toBe("small\n");
    expect(sha256hex(readFileSync(join(b.root, "blobs/sha256", img.layers[0].digest.slice(7))))).toBe(img.layers[0].digest.slice(7));
    expect(readdirSync(tmp)).toEqual([]);
    for (const f of litter) expect([f, lexists(f)]).toEqual([f, false]);
    await b.ok(["rmi", img.ref]);
  });

  test("two pulls of the same big image at once both succeed", async () => {
    const img = bigImage();
    const [x, y] = await Promise.all([b.run(["pull", "-q", NOTLS, img.ref]), b.run(["pull", "-q", NOTLS, img.ref])]);
    expect(x.stderr + y.stderr).toBe("");
    expect([x.code, y.code]).toEqual([0, 0]);
    expect(x.stdout.trim()).toBe(img.id);
    expect(y.stdout.trim()).toBe(img.id);
    expect(readdirSync(join(b.root, "tmp"))).toEqual([]);
    expect(readdirSync(join(b.root, "layers"))).toEqual([img.layers[0].diffID.slice(7)]);
    const diff = join(layerDir(b, img.layers[0].diffID), "diff");
    expect(sha256hex(readFileSync(join(diff, "big/random.bin")))).toBe(BIG_SHA);
    await b.ok(["rmi", img.ref]);
    expect(readdirSync(join(b.root, "layers"))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Progress output

/** A pass-through proxy to the test registry that sends blobs slowly (so progress bars get drawn). */
function slowProxy(bytesPerTick = 128 * 1024, tickMs = 15) {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const u = new URL(req.url);
      const headers = new Headers(req.headers);
      headers.delete("host");
      const up = await fetch(`http://${REGISTRY}${u.pathname}${u.search}`, { method: req.method, headers, redirect: "manual" });
      const out = new Headers(up.headers);
      for (const h of ["content-encoding", "transfer-encoding", "connection"]) out.delete(h);
      if (req.method !== "GET" || !/\/blobs\/sha256:/.test(u.pathname) || !up.body) return new Response(up.body, { status: up.status, headers: out });
      const reader = up.body.getReader();
      let pending: Uint8Array = new Uint8Array(0);
      const body = new ReadableStream({
        async pull(ctrl) {
          while (pending.length < bytesPerTick) {
            const { done, value } = await reader.read();
            if (done) break;
            const n = new Uint8Array(pending.length + value.length);
            n.set(pending);
            n.set(value, pending.length);
            pending = n;
          }
          if (!pending.length) return ctrl.close();
          ctrl.enqueue(pending.slice(0, bytesPerTick));
          pending = pending.slice(bytesPerTick);
          await Bun.sleep(tickMs);
        },
      });
      return new Response(body, { status: up.status, headers: out });
    },
  });
  servers.push(server);
  return `127.0.0.1:${server.port}`;
}

const shq = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

describe.each(MODES)("progress output (%s)", (mode) => {
  const b = box(mode);

  test("on a terminal: per-layer bars with sizes (run under script(1)); stdout is still the ID", async () => {
    const img = push(`progress-${mode}`, [new TarWriter().file(`p-${S}.bin`, randomBytes(3 << 20)).end(), new TarWriter().file(`q-${S}`, "small").end()]);
    const proxy = slowProxy();
    const ref = `${proxy}/${img.name}:latest`;
    const outFile = join(b.dir, "stdout.txt");
    const cmd = `${b.tspodArgs(["pull", NOTLS, ref]).map(shq).join(" ")} >${shq(outFile)}`;
    const p = Bun.spawn(["script", "-qec", cmd, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [tty, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(code).toBe(0);
    expect(readFileSync(outFile, "utf8")).toBe(`${img.id}\n`);
    const big = img.layers[0].digest.slice(7, 19);
    const small = img.layers[1].digest.slice(7, 19);
    expect(tty).toContain("Getting image source signatures");
    // bars being drawn: partly filled, with done / total sizes, redrawn in place
    expect(tty).toMatch(new RegExp(`Copying blob ${big} \\[=+>? *\\] [0-9.]+(B|KiB|MiB) / 3\\.0MiB`));
    expect(tty).toMatch(/\[=====/);
    expect(tty).toContain("\x1b[");
    expect(tty).toMatch(new RegExp(`Copying blob ${small} .*(B|KiB) / `));
    // and at the end every blob says done, then config and manifest
    expect(tty).toMatch(new RegExp(`Copying blob ${big} done`));
    expect(tty).toMatch(new RegExp(`Copying blob ${small} done`));
    expect(tty).toContain(`Copying config ${img.id.slice(0, 12)} done`);
    expect(tty).toContain("Writing manifest to image destination");
    expect(tty).not.toContain("Error");
    await b.ok(["rmi", ref]);
  });

  test("not on a terminal: plain lines; a second pull says the blobs exist", async () => {
    const img = push(`plain-${mode}`, [new TarWriter().file(`p-${S}`, randomBytes(100_000)).end(), new TarWriter().file(`q-${S}`, "small").end()]);
    const r = await b.run(["pull", NOTLS, img.ref]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${img.id}\n`);
    const lines = r.stderr.trimEnd().split("\n");
    expect(r.stderr).not.toContain("\x1b");
    expect(r.stderr).not.toContain("\r");
    expect(lines[0]).toBe(`Trying to pull ${img.ref}...`);
    expect(lines[1]).toBe("Getting image source signatures");
    expect(lines.slice(2, 4).sort()).toEqual(img.layers.map((l) => `Copying blob ${l.digest.slice(7, 19)} done`).sort());
    expect(lines.slice(4)).toEqual([`Copying config ${img.id.slice(0, 12)} done`, "Writing manifest to image destination"]);
    const again = await b.run(["pull", NOTLS, img.ref]);
    expect(again.code).toBe(0);
    for (const l of img.layers) expect(again.stderr).toContain(`Copying blob ${l.digest.slice(7, 19)} skipped: already exists`);
    await b.ok(["rmi", img.ref]);
  });

  test("-q: only the 64-hex ID on stdout, nothing on stderr (also under a terminal)", async () => {
    const img = push(`quiet-${mode}`, [new TarWriter().file(`p-${S}`, randomBytes(100_000)).end()]);
    const r = await b.run(["pull", "-q", NOTLS, img.ref]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${img.id}\n`);
    expect(r.stdout).toMatch(/^[a-f0-9]{64}\n$/);
    expect(r.stderr).toBe("");
    await b.ok(["rmi", img.ref]);
    const errFile = join(b.dir, "stderr.txt");
    const cmd = `${b.tspodArgs(["pull", "-q", NOTLS, img.ref]).map(shq).join(" ")} 2>${shq(errFile)}`;
    const p = Bun.spawn(["script", "-qec", cmd, "/dev/null"], { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    const [tty, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(code).toBe(0);
    expect(tty.replace(/\r/g, "")).toBe(`${img.id}\n`);
    expect(readFileSync(errFile, "utf8")).toBe("");
    await b.ok(["rmi", img.ref]);
  });
});

// ---------------------------------------------------------------------------------------------
// 6. Short names and registries.conf

function writeRegistriesConf(b: Sandbox, text: string): void {
  const dir = join(b.home, ".config/containers");
  mkdirSync(dir, { recursive: true });
  for (const d of [join(b.home, ".config"), dir]) chownSync(d, b.uid, b.gid);
  const f = join(dir, "registries.conf");
  writeFileSync(f, text);
  chownSync(f, b.uid, b.gid);
}

const names = async (b: Sandbox) => (await b.ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])).trim().split("\n").filter(Boolean).sort();

describe.each(MODES)("registries.conf (%s)", (mode) => {
  const b = box(mode);

  test("unqualified-search-registries + insecure: `pull busybox` works without --tls-verify and names the image by its registry", async () => {
    writeRegistriesConf(b, `unqualified-search-registries = ["${REGISTRY}"]\n\n[[registry]]\nlocation = "${REGISTRY}"\ninsecure = true\n`);
    const r = await b.run(["pull", "busybox"]);
    expect(errorLines(r)).toEqual([]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`Trying to pull ${REGISTRY}/busybox:latest...`);
    expect(await names(b)).toEqual([`${REGISTRY}/busybox:latest`]);
    const info = JSON.parse(await b.ok(["image", "inspect", "busybox"]))[0];
    expect(info.RepoTags).toEqual([`${REGISTRY}/busybox:latest`]);
    expect(info.Id).toBe(r.stdout.trim());
    // without the insecure entry the same registry needs --tls-verify=false again
    writeRegistriesConf(b, `unqualified-search-registries = ["${REGISTRY}"]\n`);
    const r2 = await b.run(["pull", "busybox"]);
    expectOneError(r2, /not reachable|tls-verify|HTTP/);
    await b.ok(["rmi", "busybox"]);
  });

  test("search registries are tried in turn whatever failed before (a registry down); all failing: one line naming each", async () => {
    writeRegistriesConf(
      b,
      `unqualified-search-registries = ["127.0.0.1:5999", "${REGISTRY}"]\n\n[[registry]]\nlocation = "127.0.0.1:5999"\ninsecure = true\n\n[[registry]]\nlocation = "${REGISTRY}"\ninsecure = true\n`,
    );
    const r = await b.run(["pull", "busybox"]);
    expect([errorLines(r), r.code]).toEqual([[], 0]);
    expect(r.stderr).toContain("Trying to pull 127.0.0.1:5999/busybox:latest...");
    expect(r.stderr).toContain(`Trying to pull ${REGISTRY}/busybox:latest...`);
    expect(await names(b)).toEqual([`${REGISTRY}/busybox:latest`]);
    const none = await b.run(["pull", "no-such-image-anywhere"]);
    expectOneError(none, /no-such-image-anywhere: not pulled from any of the 2 search registries \(127\.0\.0\.1:5999\/no-such-image-anywhere:latest: .*not reachable.*; 127\.0\.0\.1:5000\/no-such-image-anywhere:latest: .*not found\)/);
    await b.ok(["rmi", `${REGISTRY}/busybox:latest`]);
  });

  test("short-name-mode = enforcing: several search registries and no terminal is an error; one registry is no ambiguity", async () => {
    writeRegistriesConf(b, `short-name-mode = "enforcing"\nunqualified-search-registries = ["127.0.0.1:5999", "${REGISTRY}"]\n\n[[registry]]\nlocation = "${REGISTRY}"\ninsecure = true\n`);
    const r = await b.run(["pull", "-q", "busybox"]);
    expect([r.code, r.stderr]).toEqual([125, "Error: short-name resolution enforced but cannot prompt without a TTY\n"]);
    expect(await names(b)).toEqual([]);
    writeRegistriesConf(b, `short-name-mode = "enforcing"\nunqualified-search-registries = ["${REGISTRY}"]\n\n[[registry]]\nlocation = "${REGISTRY}"\ninsecure = true\n`);
    await b.ok(["pull", "-q", "busybox"]);
    expect(await names(b)).toEqual([`${REGISTRY}/busybox:latest`]);
    await b.ok(["rmi", `${REGISTRY}/busybox:latest`]);
  });

  test("[aliases]: `pull bb` pulls 127.0.0.1:5000/busybox", async () => {
    writeRegistriesConf(b, `unqualified-search-registries = []\n\n[aliases]\n"bb" = "${REGISTRY}/busybox"\n\n[[registry]]\nlocation = "${REGISTRY}"\ninsecure = true\n`);
    const out = await b.ok(["pull", "-q", "bb"]);
    expect(out).toMatch(/^[a-f0-9]{64}\n$/);
    expect(await names(b)).toEqual([`${REGISTRY}/busybox:latest`]);
    // a tag on the alias is kept
    const r = await b.run(["pull", "bb:no-such-tag"]);
    expectOneError(r, /busybox:no-such-tag.*(not found|unknown)/);
    await b.ok(["rmi", `${REGISTRY}/busybox:latest`]);
  });

  test("blocked = true: one clear line, exit 125, nothing pulled", async () => {
    writeRegistriesConf(b, `unqualified-search-registries = ["${REGISTRY}"]\n\n[[registry]]\nlocation = "${REGISTRY}"\nblocked = true\n`);
    for (const name of [`${REGISTRY}/busybox:latest`, "busybox"]) {
      const r = await b.run(["pull", NOTLS, name]);
      expectOneError(r, new RegExp(`${REGISTRY.replace(/\./g, "\\.")}.*blocked`));
    }
    expect(readdirSync(join(b.root, "images"))).toEqual([]);
  });

  test("a mirror on a dead port is skipped and the primary is used", async () => {
    writeRegistriesConf(b, `[[registry]]\nlocation = "${REGISTRY}"\ninsecure = true\n\n[[registry.mirror]]\nlocation = "127.0.0.1:5999"\ninsecure = true\n`);
    const r = await b.run(["pull", `${REGISTRY}/busybox`]);
    expect(errorLines(r)).toEqual([]);
    expect(r.code).toBe(0);
    expect(await names(b)).toEqual([`${REGISTRY}/busybox:latest`]);
    await b.ok(["rmi", `${REGISTRY}/busybox:latest`]);
  });

  test("a working mirror is used for a registry that is down; the image keeps the name asked for", async () => {
    const mirror = slowProxy(1 << 20, 0);
    writeRegistriesConf(b, `[[registry]]\nlocation = "127.0.0.1:5999"\ninsecure = true\n\n[[registry.mirror]]\nlocation = "${mirror}"\ninsecure = true\n`);
    const r = await b.run(["pull", "127.0.0.1:5999/busybox"]);
    expect(errorLines(r)).toEqual([]);
    expect(r.code).toBe(0);
    expect(await names(b)).toEqual(["127.0.0.1:5999/busybox:latest"]);
    await b.ok(["rmi", "127.0.0.1:5999/busybox:latest"]);
  });
});

// ---------------------------------------------------------------------------------------------
// 7. Schema 1 manifests are refused

const SCHEMA1 = JSON.stringify({
  schemaVersion: 1,
  name: "tspod-test/schema1",
  tag: "latest",
  architecture: "amd64",
  fsLayers: [{ blobSum: "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8c7c22955b46d4" }],
  history: [{ v1Compatibility: '{"id":"e45a5af57b00862e5ef5782a9925979a02ba2b12dff832fd0991335f4a11e5c5"}' }],
  signatures: [{ header: { alg: "ES256" }, signature: "x", protected: "e30" }],
});

/** A registry that serves one schema 1 manifest (the real one refuses schema 1 uploads). */
function schema1Registry(contentType: string): string {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const u = new URL(req.url);
      const h = { "docker-distribution-api-version": "registry/2.0" };
      if (u.pathname === "/v2/" || u.pathname === "/v2") return Response.json({}, { headers: h });
      if (u.pathname === "/v2/tspod-test/schema1/manifests/latest") {
        return new Response(req.method === "HEAD" ? null : SCHEMA1, { headers: { ...h, "content-type": contentType, "docker-content-digest": `sha256:${sha256hex(SCHEMA1)}` } });
      }
      return Response.json({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }, { status: 404, headers: h });
    },
  });
  servers.push(server);
  return `127.0.0.1:${server.port}`;
}

describe.each(MODES)("schema 1 (%s)", (mode) => {
  const b = box(mode);

  test("the test registry refuses schema 1 uploads (so a fake registry serves one)", () => {
    const r = Bun.spawnSync(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT", "-H", "Content-Type: application/vnd.docker.distribution.manifest.v1+json", "--data-binary", SCHEMA1, `http://${REGISTRY}/v2/${uniqueRepo("schema1")}/manifests/latest`]);
    expect(r.stdout.toString()).toMatch(/^4\d\d$/);
  });

  test.each(["application/vnd.docker.distribution.manifest.v1+prettyjws", "application/vnd.docker.distribution.manifest.v1+json", "application/json"])(
    "served as %s: refused with a clear message, nothing stored",
    async (ct) => {
      const reg = schema1Registry(ct);
      const r = await b.run(["pull", NOTLS, `${reg}/tspod-test/schema1:latest`]);
      expectOneError(r, /schema 1/);
      expect(readdirSync(join(b.root, "images"))).toEqual([]);
      expect(readdirSync(join(b.root, "tmp"))).toEqual([]);
    },
  );
});

describe.each(MODES)("a registry that sends too much (%s)", (mode) => {
  const b = box(mode);

  test("a manifest over 4 MiB (with or without a Content-Length) is refused as it comes, not read whole", async () => {
    let sent = 0;
    const server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const u = new URL(req.url);
        const h = { "docker-distribution-api-version": "registry/2.0", "content-type": "application/vnd.oci.image.manifest.v1+json" };
        if (u.pathname === "/v2/" || u.pathname === "/v2") return Response.json({}, { headers: h });
        const chunk = new Uint8Array(1 << 20).fill(0x20);
        if (u.pathname === "/v2/big/sized/manifests/latest") return new Response(new Uint8Array(64 << 20).fill(0x20), { headers: h });
        // chunked, and endless: only a limit ends it
        return new Response(
          new ReadableStream({
            pull(c) {
              sent += chunk.length;
              c.enqueue(chunk);
            },
          }),
          { headers: h },
        );
      },
    });
    servers.push(server);
    const reg = `127.0.0.1:${server.port}`;
    for (const repo of ["big/sized", "big/endless"]) {
      const r = await b.run(["pull", NOTLS, `${reg}/${repo}:latest`]);
      expectOneError(r, new RegExp(`manifest ${reg.replace(/\./g, "\\.")}/${repo}:latest is too large \\(more than 4194304 bytes\\)`));
    }
    expect(sent).toBeLessThan(64 << 20);
    expect(readdirSync(join(b.root, "images"))).toEqual([]);
  });
});
