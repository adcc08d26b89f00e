// push against the real registries of the test environment (plain, Basic auth,
// Bearer tokens, TLS), checked with skopeo as the independent client: what
// arrives is the image as pulled, byte for byte. Root and rootless.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ENV, errorLines, expectOneError, fixtureDigests, MODES, REGISTRY, skopeo, sandboxes, type Sandbox } from "../helpers/tspod.ts";
import { deleteFromRegistry, sha256, uniqueRepo } from "../helpers/oci.ts";
import { startEnvTokenServer, startProxy, type TokenServer } from "../helpers/registry-fakes.ts";

const box = sandboxes();
const NOTLS = "--tls-verify=false";
const AUTH = ENV.AUTH_REGISTRY;
const TLS = ENV.TLS_REGISTRY;
const TOKEN = ENV.TOKEN_REGISTRY;
const CREDS = `${ENV.AUTH_USER}:${ENV.AUTH_PASS}`;
const digests = fixtureDigests();
const img = (n: string) => `${REGISTRY}/${n}:latest`;

/** Repositories these tests push to, per registry storage, removed after the file. */
const made: { storage: string; name: string; digests: string[] }[] = [];
function dest(registry: string, what: string, tag = "t"): { repo: string; ref: string } {
  const repo = uniqueRepo(`push-${what}`);
  const storage = registry === AUTH ? ENV.AUTH_REGISTRY_STORAGE : ENV.REGISTRY_STORAGE;
  made.push({ storage, name: repo, digests: [] });
  return { repo, ref: `${registry}/${repo}:${tag}` };
}
afterAll(() => {
  for (const m of made) deleteFromRegistry(m.storage, [{ name: m.name, digests: m.digests }]);
});

/** skopeo's view of a pushed image: its raw manifest (and digest) and raw config. */
function remote(ref: string, creds?: string) {
  const auth = ["--tls-verify=false", ...(creds ? ["--creds", creds] : [])];
  const raw = skopeo(["inspect", ...auth, "--raw", `docker://${ref}`]);
  const config = skopeo(["inspect", ...auth, "--config", "--raw", `docker://${ref}`]);
  return { raw, digest: sha256(raw), manifest: JSON.parse(raw), configDigest: sha256(config) };
}

/** skopeo copies every blob of the pushed image to a directory, checking each digest as it reads. */
function fetchAll(b: Sandbox, ref: string, creds?: string): void {
  const dir = join(b.dir, `copy-${Math.random().toString(36).slice(2)}`);
  skopeo(["copy", "--insecure-policy", "-q", "--src-tls-verify=false", ...(creds ? ["--src-creds", creds] : []), `docker://${ref}`, `dir:${dir}`]);
}

const blobLines = (stderr: string) => stderr.split("\n").filter((l) => l.startsWith("Copying blob"));

describe.each(MODES)("push (%s)", (mode) => {
  const b = box(mode);

  test.each(["busybox", "busybox-docker", "multilayer"])("%s: pushed to a new repository arrives byte-identical (skopeo: same manifest digest, every blob)", async (name) => {
    const id = (await b.ok(["pull", "-q", NOTLS, img(name)])).trim();
    const d = dest(REGISTRY, name);
    const r = await b.run(["push", NOTLS, img(name), d.ref]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    const got = remote(d.ref);
    expect(got.digest).toBe(digests[name]);
    expect(got.configDigest).toBe(`sha256:${id}`);
    fetchAll(b, d.ref);
    // Podman's lines: one per layer, the config, the manifest
    expect(blobLines(r.stderr).length).toBe(got.manifest.layers.length);
    expect(r.stderr).toContain(`Copying config ${id.slice(0, 12)} done`);
    expect(r.stderr).toContain("Writing manifest to image destination");
  });

  test("the image's own repository on the same registry: blobs are mounted, not sent again", async () => {
    await b.ok(["pull", "-q", NOTLS, img("multilayer")]);
    const d = dest(REGISTRY, "mount");
    const r = await b.run(["--log-level", "debug", "push", NOTLS, img("multilayer"), d.ref]);
    expect(r.code).toBe(0);
    const layers = remote(d.ref).manifest.layers.map((l: any) => l.digest);
    for (const l of layers) expect(r.stderr).toContain(`blob ${l}: mounted from multilayer`);
    expect(blobLines(r.stderr).every((l) => l.endsWith("skipped: already exists"))).toBe(true);
    fetchAll(b, d.ref);
  });

  test("no source repository there: every blob is uploaded (POST, PUT); a second push finds them all", async () => {
    // pulled from the auth registry, pushed to the plain one: nothing to mount from
    await b.ok(["pull", "-q", NOTLS, "--creds", CREDS, `${AUTH}/busybox:latest`]);
    const d = dest(REGISTRY, "upload");
    const proxy = await startProxy(Number(REGISTRY.split(":")[1]), () => ({ watch: true }));
    const via = d.ref.replace(REGISTRY, `127.0.0.1:${proxy.port}`);
    try {
      const r = await b.run(["push", NOTLS, `${AUTH}/busybox:latest`, via]);
      expect(r.code).toBe(0);
      expect(blobLines(r.stderr)).toEqual([`Copying blob ${remote(d.ref).manifest.layers[0].digest.slice(7, 19)} done`]);
      const puts = proxy.requests.filter((q) => q.method === "PUT" && q.path.includes("/blobs/uploads/"));
      expect(puts.map((q) => q.status)).toEqual([201, 201]); // the layer, the config
      expect(proxy.requests.some((q) => q.path.includes("mount="))).toBe(false);
      proxy.requests.splice(0);
      const again = await b.run(["push", NOTLS, `${AUTH}/busybox:latest`, via]);
      expect(again.code).toBe(0);
      expect(blobLines(again.stderr).every((l) => l.endsWith("skipped: already exists"))).toBe(true);
      expect(proxy.requests.filter((q) => q.method === "PUT").map((q) => q.path)).toEqual([`/v2/${d.repo}/manifests/t`]);
    } finally {
      await proxy.stop();
    }
    expect(remote(d.ref).digest).toBe(digests.busybox);
    fetchAll(b, d.ref);
  });

  test("an upload the registry fails (503) is started again; the push succeeds", async () => {
    await b.ok(["pull", "-q", NOTLS, "--creds", CREDS, `${AUTH}/busybox:latest`]);
    const d = dest(REGISTRY, "retry");
    let failed = 0;
    const proxy = await startProxy(Number(REGISTRY.split(":")[1]), (q) => {
      if (q.method === "PUT" && q.path.includes("/blobs/uploads/") && failed++ === 0) return { answer: 503 };
    });
    try {
      const r = await b.run(["push", NOTLS, `${AUTH}/busybox:latest`, d.ref.replace(REGISTRY, `127.0.0.1:${proxy.port}`)]);
      expect(r.code).toBe(0);
      expect(proxy.requests.filter((q) => q.method === "POST").length).toBe(3); // layer twice, config once
    } finally {
      await proxy.stop();
    }
    expect(remote(d.ref).digest).toBe(digests.busybox);
    fetchAll(b, d.ref);
  });

  /** A push through a proxy that holds the first blob upload (PUT) until released; resolves once it is held. */
  async function heldPush(b: Sandbox, src: string, to: string) {
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    const proxy = await startProxy(Number(REGISTRY.split(":")[1]), (q) => (q.method === "PUT" && q.path.includes("/blobs/uploads/") ? { hold } : undefined));
    const p = Bun.spawn(b.tspodArgs(["push", "-q", NOTLS, src, to.replace(REGISTRY, `127.0.0.1:${proxy.port}`)]), { stdout: "pipe", stderr: "pipe" });
    for (let i = 0; i < 200 && !proxy.requests.some((q) => q.method === "PUT"); i++) await Bun.sleep(25);
    expect(proxy.requests.some((q) => q.method === "PUT")).toBe(true);
    return { p, proxy, release, stderr: () => new Response(p.stderr).text() };
  }

  test("kill -9 in the middle of an upload: the same push then succeeds", async () => {
    await b.ok(["pull", "-q", NOTLS, "--creds", CREDS, `${AUTH}/busybox:latest`]);
    const d = dest(REGISTRY, "killed");
    const h = await heldPush(b, `${AUTH}/busybox:latest`, d.ref);
    h.p.kill("SIGKILL");
    await h.p.exited;
    h.release();
    await h.proxy.stop();
    await b.ok(["push", "-q", NOTLS, `${AUTH}/busybox:latest`, d.ref]);
    expect(remote(d.ref).digest).toBe(digests.busybox);
    fetchAll(b, d.ref);
  });

  test("rmi -f during a push: the push still has every blob; they are collected when it ends", async () => {
    const b = box(mode); // a store with this image only
    await b.ok(["pull", "-q", NOTLS, "--creds", CREDS, `${AUTH}/busybox:latest`]);
    const d = dest(REGISTRY, "rmi");
    const h = await heldPush(b, `${AUTH}/busybox:latest`, d.ref);
    try {
      await b.ok(["rmi", "-f", `${AUTH}/busybox:latest`]);
      expect((await b.ok(["images", "-qa"])).trim()).toBe("");
      expect(readdirSync(join(b.root, "blobs/sha256")).length).toBeGreaterThan(0); // put off: the push holds them
    } finally {
      h.release();
    }
    const [code, err] = await Promise.all([h.p.exited, h.stderr()]);
    await h.proxy.stop();
    expect([code, err]).toEqual([0, ""]);
    expect(remote(d.ref).digest).toBe(digests.busybox);
    fetchAll(b, d.ref);
    expect(readdirSync(join(b.root, "blobs/sha256"))).toEqual([]);
    expect(readdirSync(join(b.root, "layers")).filter((n) => !n.startsWith("."))).toEqual([]);
  });

  test("without a destination: the name given (short or full) is where it goes", async () => {
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const d = dest(REGISTRY, "named", "v1");
    await b.ok(["tag", img("busybox"), d.ref]);
    await b.ok(["push", "-q", NOTLS, d.ref]);
    expect(remote(d.ref).digest).toBe(digests.busybox);
    // a short name that matches one stored name
    const e = dest(REGISTRY, "short", "v2");
    await b.ok(["tag", img("busybox"), e.ref]);
    const r = await b.run(["push", "-q", NOTLS, `${e.repo}:v2`]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    expect(remote(e.ref).digest).toBe(digests.busybox);
  });

  test("--format v2s2 / oci: the other manifest type with the same blobs; it pulls back as the same image; --digestfile", async () => {
    const id = (await b.ok(["pull", "-q", NOTLS, img("busybox")])).trim();
    const d = dest(REGISTRY, "v2s2");
    const file = join(b.home, "digest");
    await b.ok(["push", "-q", NOTLS, "--format", "v2s2", "--digestfile", file, img("busybox"), d.ref]);
    const got = remote(d.ref);
    made[made.length - 1].digests.push(got.digest);
    expect(readFileSync(file, "utf8")).toBe(got.digest);
    expect(got.manifest.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(got.manifest.config.mediaType).toBe("application/vnd.docker.container.image.v1+json");
    const src = remote(img("busybox")).manifest;
    expect(got.manifest.layers.map((l: any) => [l.digest, l.size, l.mediaType])).toEqual(src.layers.map((l: any) => [l.digest, l.size, "application/vnd.docker.image.rootfs.diff.tar.gzip"]));
    // the bytes containers/image writes for it: the Docker fixture (skopeo made it from the same layout) has this very digest
    expect(got.digest).toBe(digests["busybox-docker"]);
    expect(got.configDigest).toBe(`sha256:${id}`);
    fetchAll(b, d.ref);
    // and back: the Docker fixture as OCI
    await b.ok(["pull", "-q", NOTLS, img("busybox-docker")]);
    const o = dest(REGISTRY, "oci");
    await b.ok(["push", "-q", NOTLS, "-f", "oci", img("busybox-docker"), o.ref]);
    const oci = remote(o.ref);
    made[made.length - 1].digests.push(oci.digest);
    expect(oci.manifest.mediaType).toBe("application/vnd.oci.image.manifest.v1+json");
    expect(oci.manifest.layers.every((l: any) => l.mediaType === "application/vnd.oci.image.layer.v1.tar+gzip")).toBe(true);
    expect(oci.digest).toBe(digests.busybox);
    // a fresh store pulls the converted image: the same image ID (config digest)
    const c = box(mode);
    expect((await c.ok(["pull", "-q", NOTLS, d.ref])).trim()).toBe(id);
  });

  test("the manifest pushed is the one asked for: NAME@DIGEST, or the one a name was pulled or tagged with, not the one pulled last", async () => {
    // busybox and busybox-docker are one image (one config) with two manifests; busybox-docker pulled last
    const id = (await b.ok(["pull", "-q", NOTLS, img("busybox")])).trim();
    expect((await b.ok(["pull", "-q", NOTLS, img("busybox-docker")])).trim()).toBe(id);
    const d = dest(REGISTRY, "bydigest");
    await b.ok(["push", "-q", NOTLS, `${REGISTRY}/busybox@${digests.busybox}`, d.ref]);
    expect(remote(d.ref).digest).toBe(digests.busybox);
    await b.ok(["push", "-q", NOTLS, `${REGISTRY}/busybox-docker@${digests["busybox-docker"]}`, d.ref]);
    expect(remote(d.ref).digest).toBe(digests["busybox-docker"]);
    const e = dest(REGISTRY, "tagged");
    await b.ok(["tag", img("busybox"), e.ref]);
    await b.ok(["push", "-q", NOTLS, e.ref]);
    expect(remote(e.ref).digest).toBe(digests.busybox);
    // a digest is no destination; a short name two names end with is refused
    expectOneError(await b.run(["push", NOTLS, `${REGISTRY}/busybox@${digests.busybox}`]), /a digest is not a place to push to/);
    await b.ok(["tag", img("busybox"), `${AUTH}/${e.repo}:t`]);
    expectOneError(await b.run(["push", NOTLS, `${e.repo}:t`]), /matches several names of the image/);
  });

  test("a multi-platform image: the platform pulled is pushed, with a warning that the others are not", async () => {
    await b.ok(["pull", "-q", NOTLS, img("multiarch")]);
    const index = JSON.parse(skopeo(["inspect", "--tls-verify=false", "--raw", `docker://${img("multiarch")}`]));
    const amd64 = index.manifests.find((m: any) => m.platform?.architecture === "amd64").digest;
    const d = dest(REGISTRY, "multiarch");
    const r = await b.run(["push", "-q", NOTLS, img("multiarch"), d.ref]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^WARN\[tspod\] .*multi-platform image: only its linux\/amd64 image is pushed/m);
    expect(remote(d.ref).digest).toBe(amd64);
  });

  test("Basic auth: refused without credentials (one line, 125); --creds, or login then push", async () => {
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const d = dest(AUTH, "basic");
    expectOneError(await b.run(["push", NOTLS, img("busybox"), d.ref]), new RegExp(`pushing to ${AUTH}/${d.repo}: authentication required`));
    expectOneError(await b.run(["push", NOTLS, "--creds", `${ENV.AUTH_USER}:wrong`, img("busybox"), d.ref]), /credentials were rejected/);
    await b.ok(["push", "-q", NOTLS, "--creds", CREDS, img("busybox"), d.ref]);
    expect(remote(d.ref, CREDS).digest).toBe(digests.busybox);
    fetchAll(b, d.ref, CREDS);
    const e = dest(AUTH, "login");
    await b.ok(["login", NOTLS, "-u", ENV.AUTH_USER, "--password-stdin", AUTH], { stdin: ENV.AUTH_PASS });
    await b.ok(["push", "-q", NOTLS, img("busybox"), e.ref]);
    expect(remote(e.ref, CREDS).digest).toBe(digests.busybox);
    await b.ok(["logout", AUTH]);
  });

  test("TLS with the registry's CA in certs.d; refused without it", async () => {
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const d = dest(TLS, "tls");
    expectOneError(await b.run(["push", img("busybox"), d.ref]), /TLS certificate not trusted/);
    const dir = join(b.home, ".config/containers/certs.d", TLS);
    mkdirSync(dir, { recursive: true });
    copyFileSync(ENV.CA_CERT, join(dir, "ca.crt"));
    // a file that is no certificate beside it is passed over, as containers/image does
    writeFileSync(join(dir, "junk.crt"), "not a certificate\n");
    chownSync(join(dir, "junk.crt"), b.uid, b.gid);
    for (let p = join(dir, "ca.crt"); p.startsWith(b.home) && p !== b.home; p = dirname(p)) chownSync(p, b.uid, b.gid);
    chmodSync(join(dir, "ca.crt"), 0o644);
    await b.ok(["push", "-q", img("busybox"), d.ref]);
    expect(remote(d.ref).digest).toBe(digests.busybox);
  });

  test("bad input: one line each, exit 125", async () => {
    const id = (await b.ok(["pull", "-q", NOTLS, img("busybox")])).trim();
    expectOneError(await b.run(["push", NOTLS, "nosuchimage", `${REGISTRY}/x:y`]), /nosuchimage: image not known/);
    expectOneError(await b.run(["push", NOTLS, id.slice(0, 12)]), /give a destination/);
    expectOneError(await b.run(["push", NOTLS, img("busybox"), `${REGISTRY}/x@${digests.busybox}`]), /cannot push to a digest/);
    expectOneError(await b.run(["push", img("busybox"), "oci:/tmp/layout"]), /the oci transport is not supported/);
    expectOneError(await b.run(["push", "--format", "v2s1", img("busybox"), `${REGISTRY}/x:y`]), /schema 1 is deprecated/);
    expectOneError(await b.run(["push", "--format", "xml", img("busybox"), `${REGISTRY}/x:y`]), /must be oci or v2s2/);
    expectOneError(await b.run(["push", "--compression-format", "zstd", img("busybox"), `${REGISTRY}/x:y`]), /layers as stored.*gzip/);
    expectOneError(await b.run(["push", "--sign-by", "me@example.com", img("busybox"), `${REGISTRY}/x:y`]), /does not sign/);
    // a --cert-dir that is not there is passed over, as Podman does, and the TLS error says so
    expectOneError(await b.run(["push", "--cert-dir", "/nonexistent", img("busybox"), `${TLS}/x:y`]), /not trusted .*add its CA to --cert-dir \/nonexistent \(there is no such directory\), or use --tls-verify=false/);
    expectOneError(await b.run(["push", NOTLS, img("busybox"), "127.0.0.1:1/x:y"]), /not reachable: connection refused/);
    expectOneError(await b.run(["push", NOTLS, img("busybox"), "UPPER/case:x"]), /invalid reference format/);
    // registries.conf: a blocked registry takes no pushes
    const conf = join(b.home, ".config/containers/registries.conf");
    mkdirSync(dirname(conf), { recursive: true });
    writeFileSync(conf, `[[registry]]\nlocation = "${REGISTRY}"\nblocked = true\n`);
    chownSync(conf, b.uid, b.gid);
    try {
      expectOneError(await b.run(["push", NOTLS, img("busybox"), `${REGISTRY}/x:y`]), /is blocked in registries\.conf/);
    } finally {
      writeFileSync(conf, "");
    }
  });
});

describe.each(MODES)("push with Bearer tokens (%s)", (mode) => {
  const b = box(mode);
  let ts: TokenServer;
  beforeAll(() => {
    ts = startEnvTokenServer();
  });
  afterAll(() => ts.stop());

  test("anonymous: no push right, one line; with credentials: a pull,push token (and pull of the source repository, to mount from)", async () => {
    await b.ok(["pull", "-q", NOTLS, `${TOKEN}/busybox:latest`]);
    const d = dest(TOKEN, "token");
    const anon = await b.run(["push", NOTLS, `${TOKEN}/busybox:latest`, d.ref]);
    expectOneError(anon, /authentication required/);
    ts.reset();
    const r = await b.run(["--log-level", "debug", "push", NOTLS, "--creds", CREDS, `${TOKEN}/busybox:latest`, d.ref]);
    expect(r.code).toBe(0);
    expect(ts.requests.map((q) => [q.scope, q.user, q.status])).toEqual([[`repository:${d.repo}:pull,push repository:busybox:pull`, ENV.AUTH_USER, 200]]);
    expect(r.stderr).toContain("mounted from busybox");
    expect(remote(d.ref.replace(TOKEN, REGISTRY)).digest).toBe(digests.busybox); // the same storage as the plain registry
    expect(errorLines(r)).toEqual([]);
  });
});
