// Images against the real registry (docker-registry on 127.0.0.1), checked with
// skopeo and util-linux where an independent tool exists; root and rootless.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { ENV, expectOneError, fixtureDigests, MODES, REGISTRY, skopeo, sandboxes, type Sandbox } from "../helpers/tspod.ts";
import { pushImage, uniqueRepo } from "../helpers/oci.ts";
import { TarWriter } from "../helpers/tarwriter.ts";

const box = sandboxes();

const NOTLS = "--tls-verify=false";
const img = (n: string) => `${REGISTRY}/${n}:latest`;
const digests = fixtureDigests();

function layerDirs(b: Sandbox): string[] {
  return readdirSync(join(b.root, "layers")).map((n) => join(b.root, "layers", n, "diff"));
}

/** The diff dir holding a path (searching every unpacked layer). */
function findInLayers(b: Sandbox, rel: string): string[] {
  return layerDirs(b).filter((d) => {
    try {
      lstatSync(join(d, rel));
      return true;
    } catch {
      return false;
    }
  });
}

describe.each(MODES)("pull (%s)", (mode) => {
  const b = box(mode);
  const hostUid = (ctr: number) => (mode === "root" ? ctr : ctr === 0 ? b.uid : Number(ENV.SUBID_START) + ctr - 1);

  test.each(["busybox", "busybox-docker", "multilayer"])("%s: pulls; manifest digest is what skopeo reports", async (name) => {
    const out = await b.ok(["pull", "-q", NOTLS, img(name)]);
    const id = out.trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    const sk = JSON.parse(skopeo(["inspect", "--tls-verify=false", `docker://${img(name)}`]));
    expect(sk.Digest).toBe(digests[name]);
    const info = JSON.parse(await b.ok(["image", "inspect", img(name)]))[0];
    expect(info.Id).toBe(id);
    expect(info.Digest).toBe(sk.Digest);
    expect(info.RepoDigests).toContain(`${REGISTRY}/${name}@${sk.Digest}`);
    // The config digest is the ID; skopeo reads the same config.
    const rawCfg = skopeo(["inspect", "--tls-verify=false", "--config", "--raw", `docker://${img(name)}`]);
    expect(new Bun.CryptoHasher("sha256").update(rawCfg).digest("hex")).toBe(id);
    expect(info.RootFS.Layers).toEqual(JSON.parse(rawCfg).rootfs.diff_ids);
    // Size: the uncompressed layers (their tars), as containers/storage counts it;
    // each blob's digest is checked, so this is the registry's data
    const manifest = JSON.parse(skopeo(["inspect", "--tls-verify=false", "--raw", `docker://${img(name)}`]));
    let tarBytes = 0;
    for (const l of manifest.layers) {
      const blob = readFileSync(join(b.root, "blobs/sha256", l.digest.slice(7)));
      expect(new Bun.CryptoHasher("sha256").update(blob).digest("hex")).toBe(l.digest.slice(7));
      tarBytes += l.mediaType.endsWith("gzip") ? Bun.gunzipSync(blob).length : l.mediaType.endsWith("zstd") ? Bun.zstdDecompressSync(blob).length : blob.length;
    }
    expect(info.Size).toBe(tarBytes);
  });

  test("a pull of an image stored already: no helper started, its record not written again; a new name is added", async () => {
    const ref = img("busybox");
    const id = (await b.ok(["pull", "-q", NOTLS, ref])).trim();
    const recPath = join(b.root, "images", `${id}.json`);
    const before = statSync(recPath).mtimeMs;
    const again = await b.run(["pull", "-q", NOTLS, ref], { env: { TSPOD_TRACE: "1" } });
    expect(again.code).toBe(0);
    expect(again.stderr).toContain("pull: saved");
    expect(again.stderr).not.toContain("spare helper started");
    expect(statSync(recPath).mtimeMs).toBe(before);
    // the same image by digest: stored too
    const byDigest = await b.run(["pull", "-q", NOTLS, `${REGISTRY}/busybox@${digests.busybox}`], { env: { TSPOD_TRACE: "1" } });
    expect([byDigest.code, byDigest.stderr.includes("spare helper started")]).toEqual([0, false]);
    // another name for it (busybox-docker is another image): a cold pull starts one
    await b.ok(["rmi", "-f", img("busybox-docker")]);
    const other = await b.run(["pull", "-q", NOTLS, img("busybox-docker")], { env: { TSPOD_TRACE: "1" } });
    expect([other.code, other.stderr.includes("spare helper started")]).toEqual([0, true]);
    // a tag of the stored image under a new name is added to its record (written)
    await b.ok(["tag", ref, `${REGISTRY}/busybox:again`]);
    await b.ok(["untag", ref, ref]); // that name only
    await b.ok(["pull", "-q", NOTLS, ref]);
    expect(JSON.parse(readFileSync(recPath, "utf8")).names).toEqual(expect.arrayContaining([ref, `${REGISTRY}/busybox:again`]));
  });

  test("layers are unpacked in tmp/, marked as the top of hierarchies (ext4 spreads them over block groups)", async () => {
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    // lsattr (e2fsprogs) reads the flag independently; filesystems without inode flags: nothing to check
    const parent = Bun.spawnSync(["lsattr", "-d", b.dir], { stderr: "pipe" });
    if (parent.exitCode !== 0) return;
    const attrs = Bun.spawnSync(["lsattr", "-d", join(b.root, "tmp")]).stdout.toString().split(" ")[0];
    expect(attrs).toContain("T");
  });

  test("rootless, one process keeps the user namespace for the runtime directory: pulls and rmi join it; as root there is none", async () => {
    const file = join(b.runroot, "userns.pid");
    await b.ok(["rmi", "-f", "-a"]);
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    if (mode === "root") {
      expect(existsSync(file)).toBe(false);
      return;
    }
    const pid = Number(readFileSync(file, "utf8"));
    const live = () => existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
    expect(live()).toBe(true);
    expect(readFileSync(`/proc/${pid}/comm`, "utf8").trim()).toBe("tspod-userns");
    const map = readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split("\n").map((l) => l.trim().split(/\s+/).map(Number));
    expect(map).toEqual([[0, b.uid, 1], [1, Number(ENV.SUBID_START), Number(ENV.SUBID_COUNT)]]);
    // what was unpacked in it has the image's owners (uid 0 -> the user)
    expect(lstatSync(join(findInLayers(b, "bin")[0], "bin")).uid).toBe(b.uid);
    // rmi (rmtree of subuid-owned files) and the next pull join the same one
    await b.ok(["pull", "-q", NOTLS, img("multilayer")]);
    await b.ok(["rmi", "-f", "-a"]);
    expect(layerDirs(b)).toEqual([]);
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    expect(Number(readFileSync(file, "utf8"))).toBe(pid);
    expect(live()).toBe(true);
    // killed: the next pull makes another
    process.kill(pid, "SIGKILL");
    await b.ok(["rmi", "-f", "-a"]);
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const next = Number(readFileSync(file, "utf8"));
    expect(next).not.toBe(pid);
    expect(readFileSync(`/proc/${next}/comm`, "utf8").trim()).toBe("tspod-userns");
  });

  test("a runtime directory of ours open to others is closed (0700) and used, as Podman uses it", async () => {
    chmodSync(b.runroot, 0o755);
    await b.ok(["rmi", "-f", img("busybox"), img("busybox-docker")]); // so that the pull needs the runtime directory
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    expect(statSync(b.runroot).mode & 0o777).toBe(0o700);
    expect(readdirSync(join(b.root, "tmp"))).toEqual([]);
  });

  test("--platform that a single-platform image is not: pulled, with Podman's warning", async () => {
    const r = await b.run(["pull", "-q", NOTLS, "--platform", "linux/arm64", img("busybox")]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("WARN[tspod] image platform (linux/amd64) does not match the expected platform (linux/arm64)\n");
  });

  test("multiarch: host platform by default, --platform picks another; the index digest is kept", async () => {
    const raw = JSON.parse(skopeo(["inspect", "--tls-verify=false", "--raw", `docker://${img("multiarch")}`]));
    const amd = raw.manifests.find((m: any) => m.platform.architecture === "amd64").digest;
    const arm = raw.manifests.find((m: any) => m.platform.architecture === "arm64").digest;
    await b.ok(["pull", "-q", NOTLS, img("multiarch")]);
    let info = JSON.parse(await b.ok(["image", "inspect", img("multiarch")]))[0];
    // the digest shown is the index's, as Podman and skopeo show it; the platform's is a repo digest too
    expect(info.Digest).toBe(digests.multiarch);
    expect(info.Architecture).toBe("amd64");
    expect(info.RepoDigests).toEqual(expect.arrayContaining([`${REGISTRY}/multiarch@${digests.multiarch}`, `${REGISTRY}/multiarch@${amd}`]));
    expect(await b.ok(["images", "--digests", "--format", "{{.Digest}}", img("multiarch")])).toBe(`${digests.multiarch}\n`);
    const armPull = await b.run(["pull", "-q", NOTLS, "--platform", "linux/arm64", img("multiarch")]);
    expect([armPull.code, armPull.stderr]).toEqual([0, ""]); // the index has it: no warning
    info = JSON.parse(await b.ok(["image", "inspect", img("multiarch")]))[0];
    expect(info.Digest).toBe(digests.multiarch);
    expect(info.RepoDigests).toContain(`${REGISTRY}/multiarch@${arm}`);
    expect(info.Architecture).toBe("arm64");
    const arch = findInLayers(b, "arch").map((d) => readFileSync(join(d, "arch"), "utf8").trim()).sort();
    expect(arch).toEqual(["amd64", "arm64"]);
    const r = await b.run(["pull", NOTLS, "--platform", "linux/s390x", img("multiarch")]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("linux/s390x");
    expect(r.stderr.trim().split("\n").filter((l) => l.startsWith("Error")).length).toBe(1);
  });

  test("owners, modes, hardlinks and symlinks come out as the image says", async () => {
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const [d] = findInLayers(b, "bin/busybox");
    expect(d).toBeDefined();
    const bb = lstatSync(join(d, "bin/busybox"));
    expect(bb.uid).toBe(hostUid(0));
    expect(bb.gid).toBe(hostUid(0));
    const www = lstatSync(join(d, "home/www/index.html"));
    expect(www.uid).toBe(hostUid(33));
    expect(www.gid).toBe(hostUid(33));
    const suid = lstatSync(join(d, "bin/suid-test"));
    expect(suid.mode & 0o7777).toBe(0o4755);
    const hard = lstatSync(join(d, "bin/busybox-hard"));
    expect(hard.ino).toBe(bb.ino);
    expect(require("node:fs").readlinkSync(join(d, "etc/abs-link"))).toBe("/etc/passwd");
    expect(lstatSync(join(d, "tmp")).mode & 0o7777).toBe(0o1777);
  });

  test("whiteouts: layer 3 hides /data/gone and the old content of the opaque /opq (checked with a kernel overlay mount)", async () => {
    await b.ok(["pull", "-q", NOTLS, img("multilayer")]);
    const info = JSON.parse(await b.ok(["image", "inspect", img("multilayer")]))[0];
    const dirs = [info.GraphDriver.Data.UpperDir, ...info.GraphDriver.Data.LowerDir.split(":")];
    expect(dirs.length).toBe(5);
    const wh = dirs.flatMap((d) => {
      try {
        return [lstatSync(join(d, "data/gone"))];
      } catch {
        return [];
      }
    });
    expect(wh.some((s) => s.isCharacterDevice() && s.rdev === 0)).toBe(true);
    // Mount the layers as a container will, in a user namespace, with util-linux (independent of tspod).
    const lower = dirs.join(":");
    const mapFlag = mode === "root" ? "" : "-r";
    const r = await b.sh(`d=$(mktemp -d); unshare ${mapFlag} -m sh -c "mount -t overlay overlay -o lowerdir=${lower}${mode === "root" ? "" : ",userxattr"} $d && ls $d/data $d/opq && cat $d/zstd-marker $d/plain-marker"; rc=$?; rmdir $d; exit $rc`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines).toContain("keep");
    expect(lines).not.toContain("gone");
    expect(lines).toContain("new");
    expect(lines).not.toContain("old1");
    expect(lines).not.toContain("old2");
  });

  test("layers are shared: busybox and multilayer unpack the busybox layer once", async () => {
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    await b.ok(["pull", "-q", NOTLS, img("multilayer")]);
    expect(findInLayers(b, "bin/busybox").length).toBe(1);
  });

  test("errors: registry down, unknown repository, unknown tag, bad reference: one line, exit 125", async () => {
    const cases: [string[], RegExp][] = [
      [["pull", NOTLS, "127.0.0.1:5999/busybox"], /not reachable.*connection refused/],
      [["pull", NOTLS, `${REGISTRY}/no-such-repo`], /no-such-repo.*(not found|unknown)/],
      [["pull", NOTLS, `${REGISTRY}/busybox:no-such-tag`], /no-such-tag.*(not found|unknown)/],
      [["pull", "Bad/Ref"], /invalid reference format/],
      [["pull", `${REGISTRY}/busybox`], /not reachable|tls-verify|HTTP/],
      [["pull", NOTLS, "127.0.0.1:99999/busybox"], /^Error: registry 127\.0\.0\.1:99999: invalid port 99999$/],
      [["pull", `sha256:${"4b".repeat(32)}`], /is an image ID: a pull needs a name/],
      [["pull", "4b".repeat(32)], /is an image ID: a pull needs a name/],
    ];
    for (const [args, re] of cases) {
      const r = await b.run(args);
      expect(r.code).toBe(125);
      const errs = r.stderr.split("\n").filter((l) => l.startsWith("Error:"));
      expect(errs.length).toBe(1);
      expect(errs[0]).toMatch(re);
    }
  });
});

describe.each(MODES)("local images (%s)", (mode) => {
  const b = box(mode);

  test("images, tag, untag, rmi, exists, history, prune", async () => {
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const id = (await b.ok(["images", "-q", "--no-trunc"])).trim().replace("sha256:", "");
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    // any unique ID prefix, one character too (as Podman)
    expect((await b.run(["image", "exists", id.slice(0, 2)])).code).toBe(0);
    expect((await b.ok(["image", "inspect", "--format", "{{.Id}}", id.slice(0, 1)])).trim()).toBe(id);
    const table = await b.ok(["images"]);
    expect(table.split("\n")[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(table).toContain(`${REGISTRY}/busybox`);
    await b.ok(["tag", "busybox", "mine:v1", "quay.io/x/y:2"]);
    const names = (await b.ok(["images", "--format", "{{.Repository}}:{{.Tag}}"])).trim().split("\n").sort();
    expect(names).toEqual([`${REGISTRY}/busybox:latest`, "localhost/mine:v1", "quay.io/x/y:2"].sort());
    expect((await b.run(["image", "exists", "mine:v1"])).code).toBe(0);
    expect((await b.run(["image", "exists", "nope:v1"])).code).toBe(1);
    expect((await b.ok(["images", "--filter", "reference=mine"])).trim().split("\n").length).toBe(2);
    // by ID with several names: refused without -f
    const r = await b.run(["rmi", id.slice(0, 12)]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("more than one tag");
    // by name: only untags
    expect(await b.ok(["rmi", "mine:v1"])).toBe("Untagged: localhost/mine:v1\n");
    await b.ok(["untag", id, "quay.io/x/y:2"]);
    expect((await b.ok(["history", "busybox", "--format", "{{.CreatedBy}}"])).trim()).toContain("busybox");
    // untag everything: dangling, then prune removes it and its layers and blobs
    await b.ok(["untag", id]);
    expect((await b.ok(["images", "--filter", "dangling=true", "-q"])).trim()).toBe(id.slice(0, 12));
    expect((await b.ok(["image", "prune"])).trim()).toBe(id);
    expect((await b.ok(["images", "-q"])).trim()).toBe("");
    expect(readdirSync(join(b.root, "layers"))).toEqual([]);
    expect(readdirSync(join(b.root, "blobs/sha256"))).toEqual([]);
  });

  test("a layer removal that fails half-way leaves no layer that looks stored; a layer dir without its record is replaced by the next pull", async () => {
    await b.ok(["rmi", "-f", "-a"]);
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const [layer] = findInLayers(b, "bin/busybox");
    const stuck = join(layer, "etc/stuck");
    writeFileSync(stuck, "x");
    // immutable: nobody can delete it, not root, not the helper in the user namespace
    if (Bun.spawnSync(["chattr", "+i", stuck], { stderr: "pipe" }).exitCode !== 0) throw new Error("chattr +i failed: the store must be on ext4 for this test");
    try {
      const r = await b.run(["rmi", img("busybox")]);
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/^Error: removing .*: .+/m); // says why, not an empty reason
      expect(layerDirs(b)).toEqual([]); // moved away whole before anything was deleted
      await b.ok(["pull", "-q", NOTLS, img("busybox")]);
      const [again] = findInLayers(b, "bin/busybox");
      expect(existsSync(join(again, "etc/passwd"))).toBe(true);
      expect(existsSync(join(again, "../layer.json"))).toBe(true);
    } finally {
      Bun.spawnSync(["chattr", "-i", stuck]);
      for (const n of readdirSync(join(b.root, "tmp"))) if (n.startsWith("dead-layer-")) Bun.spawnSync(["chattr", "-R", "-i", join(b.root, "tmp", n)]);
    }
    // a directory where the layer goes, without a layer.json (an older tspod's half-done removal): replaced
    await b.ok(["rmi", "-f", "-a"]);
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const dir = dirname(findInLayers(b, "bin/busybox")[0]);
    await b.ok(["rmi", "-f", "-a"]);
    mkdirSync(join(dir, "diff/bin"), { recursive: true });
    writeFileSync(join(dir, "diff/bin/leftover"), "");
    if (mode === "rootless") Bun.spawnSync(["chown", "-R", `${b.uid}:${b.gid}`, dir]);
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    expect(existsSync(join(dir, "layer.json"))).toBe(true);
    expect(existsSync(join(dir, "diff/etc/passwd"))).toBe(true);
    expect(existsSync(join(dir, "diff/bin/leftover"))).toBe(false);
    expect((await b.ok(["run", "--rm", img("busybox"), "cat", "/etc/group"])).length).toBeGreaterThan(0);
  });

  test("rmi removes layers no other image uses and keeps shared ones", async () => {
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    await b.ok(["pull", "-q", NOTLS, img("multilayer")]);
    const before = readdirSync(join(b.root, "layers")).length;
    expect(before).toBe(5);
    const out = await b.ok(["rmi", img("multilayer")]);
    expect(out).toContain(`Untagged: ${img("multilayer")}`);
    expect(out).toMatch(/Deleted: [a-f0-9]{64}/);
    expect(readdirSync(join(b.root, "layers")).length).toBe(1);
    expect(existsSync(join(findInLayers(b, "bin/busybox")[0], "bin/sh"))).toBe(true);
    await b.ok(["rmi", "busybox"]);
    expect(readdirSync(join(b.root, "layers"))).toEqual([]);
    const r = await b.run(["rmi", "busybox"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: busybox: image not known\n");
  });

  test("rmi of several names: an unknown one does not stop the others (exit 1; -f ignores it)", async () => {
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    await b.ok(["pull", "-q", NOTLS, img("multilayer")]);
    const r = await b.run(["rmi", img("busybox"), "nosuch:v1", img("multilayer"), "nosuch:v2"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("Error: nosuch:v1: image not known\nError: nosuch:v2: image not known\n");
    expect(r.stdout.match(/^Deleted: /gm)?.length).toBe(2);
    // both images gone, and their layers and blobs collected
    expect((await b.ok(["images", "-q"])).trim()).toBe("");
    expect(readdirSync(join(b.root, "layers"))).toEqual([]);
    expect(readdirSync(join(b.root, "blobs/sha256"))).toEqual([]);
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const f = await b.run(["rmi", "-f", "nosuch:v1", img("busybox")]);
    expect([f.code, f.stderr]).toEqual([0, ""]);
    expect(readdirSync(join(b.root, "layers"))).toEqual([]);
  });

  test("rmi -i ignores unknown names; -a with names is refused; REPO@DIGEST of an image also tagged untags only that name", async () => {
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const ign = await b.run(["rmi", "-i", "nosuch:v1", img("busybox")]);
    expect([ign.code, ign.stderr, ign.stdout.match(/^Deleted: /gm)?.length]).toEqual([0, "", 1]);
    // -a with a name: Podman's error, nothing removed
    await b.ok(["pull", "-q", NOTLS, img("busybox")]);
    const all = await b.run(["rmi", "-a", "nosuch"]);
    expect([all.code, all.stderr]).toEqual([125, "Error: when using the --all switch, you may not pass any images names or IDs\n"]);
    expect((await b.ok(["images", "-q"])).trim()).not.toBe("");
    // pulled by tag and by digest: rmi NAME@DIGEST takes that name only, as Podman
    const byDigest = `${REGISTRY}/multilayer@${digests.multilayer}`;
    await b.ok(["pull", "-q", NOTLS, img("multilayer")]);
    await b.ok(["pull", "-q", NOTLS, byDigest]);
    expect(await b.ok(["rmi", byDigest])).toBe(`Untagged: ${byDigest}\n`);
    expect((await b.run(["image", "exists", img("multilayer")])).code).toBe(0);
    // pulled by digest only: its name is said as it goes
    await b.ok(["rmi", img("multilayer")]);
    await b.ok(["pull", "-q", NOTLS, byDigest]);
    const last = await b.ok(["rmi", byDigest]);
    expect(last).toMatch(new RegExp(`^Untagged: ${byDigest.replace(/[.:/@]/g, "\\$&")}\nDeleted: [a-f0-9]{64}\n$`));
    await b.ok(["rmi", "-a"]);
  });

  test("rmi of an image containers use: refused (exit 2, also with -a); -f removes those containers first, as Podman", async () => {
    await b.ok(["pull", "-q", NOTLS, img("multilayer")]);
    const created = (await b.ok(["create", "--network", "none", img("multilayer"), "true"])).trim();
    const running = (await b.ok(["run", "-d", "--network", "none", img("multilayer"), "sleep", "60"])).trim();
    const st = JSON.parse(await b.ok(["inspect", running]))[0].State;
    const pids = [st.Pid, st.ConmonPid].filter(Boolean) as number[];
    expect(pids.length).toBe(2);
    for (const args of [["rmi", img("multilayer")], ["rmi", "-a"]]) {
      const r = await b.run(args);
      expect([args, r.code, r.stderr]).toEqual([args, 2, expect.stringMatching(/^Error: image [0-9a-f]{12} is in use by containers? /)]);
    }
    expect((await b.ps()).sort()).toEqual([created, running].map((id) => id.slice(0, 12)).sort());
    const f = await b.run(["rmi", "-f", img("multilayer")]);
    expect([f.code, f.stderr]).toEqual([0, ""]);
    expect(f.stdout).toContain(`Untagged: ${img("multilayer")}`);
    expect(f.stdout).toMatch(/^Deleted: [a-f0-9]{64}$/m);
    expect(await b.ps()).toEqual([]);
    expect((await b.ok(["images", "-q"])).trim()).toBe("");
    expect(readdirSync(join(b.root, "layers"))).toEqual([]);
    // the container's process and its monitor are gone (a zombie awaiting its reaper counts as gone)
    const alive = (pid: number) => {
      try {
        return !"ZX".includes(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1][0]);
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && pids.some(alive); i++) await Bun.sleep(20);
    expect(pids.filter(alive)).toEqual([]);
  });

  test("--format is a Go template: range, len, printf, pipes; empty config fields; a bad template is one error, exit 125", async () => {
    const id = (await b.ok(["pull", "-q", NOTLS, img("multilayer")])).trim();
    expect(await b.ok(["image", "inspect", img("multilayer"), "--format", '{{len .RootFS.Layers}} {{range .RepoTags}}<{{.}}>{{end}} {{.Id | printf "%.12s"}} {{.Config.ExposedPorts}}'])).toBe(
      `5 <${img("multilayer")}> ${id.slice(0, 12)} map[]\n`,
    );
    expect(await b.ok(["images", "--format", "{{if eq .Tag \"latest\"}}{{.Repository | upper}}{{end}}", "multilayer"])).toBe(`${REGISTRY}/MULTILAYER\n`);
    expect((await b.ok(["history", "multilayer", "--format", "{{.CreatedSince}}"])).trim().split("\n")[0]).toMatch(/ago$/);
    // history's JSON and template as Podman gives them (its keys; Tags a list; CreatedAt a Go time)
    const hist = JSON.parse(await b.ok(["history", "multilayer", "--format", "json"]));
    expect(Object.keys(hist[0])).toEqual(["id", "created", "CreatedBy", "size", "Created"]);
    expect(await b.ok(["history", "multilayer", "--format", "{{.Tags}}|{{.CreatedAt}}"])).toStartWith("[]|2024-01-01 00:00:00 +0000 UTC\n");
    expect((await b.ok(["images", "--format", "table {{.ID}}\t{{.Tag}}", "multilayer"])).split("\n")[0]).toMatch(/^IMAGE ID\s+TAG$/);
    expect(await b.ok(["images", "--format", "table", "multilayer"])).toBe(await b.ok(["images", "multilayer"]));
    for (const args of [["image", "inspect", img("multilayer"), "--format", "{{.Config.Cmd"], ["images", "--format", "{{.Repository}"], ["images", "--format", "{{nosuch .ID}}"]]) {
      const r = await b.run(args);
      expect([args, r.code, r.stdout, r.stderr.trim().split("\n").length]).toEqual([args, 125, "", 1]);
    }
    await b.ok(["rmi", img("multilayer")]);
  });

  test("a short name two images match: resolved through the search registries as Podman does, else one error naming the matches", async () => {
    const bb = (await b.ok(["pull", "-q", NOTLS, img("busybox")])).trim();
    await b.ok(["pull", "-q", NOTLS, img("multilayer")]);
    await b.ok(["tag", img("multilayer"), "quay.io/other/busybox:latest", "localhost/unrelated:v1"]);
    const dir = join(b.home, ".config/containers");
    const conf = join(dir, "registries.conf");
    const before = existsSync(conf) ? readFileSync(conf, "utf8") : undefined;
    const writeConf = (text: string) => {
      mkdirSync(dir, { recursive: true });
      writeFileSync(conf, text);
      Bun.spawnSync(["chown", "-R", `${b.uid}:${b.gid}`, join(b.home, ".config")]);
    };
    try {
      writeConf(`unqualified-search-registries = ["${REGISTRY}"]\n`);
      expect(JSON.parse(await b.ok(["image", "inspect", "busybox"]))[0].Id).toBe(bb);
      // no search registry has either: one line naming the two matches, and only them
      writeConf(`unqualified-search-registries = ["example.org"]\n`);
      const r = await b.run(["image", "inspect", "busybox"]);
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/short name matches several images \(127\.0\.0\.1:5000\/busybox:latest, quay\.io\/other\/busybox:latest\)/);
      // it does exist, though (image exists said 1 where inspect said "several")
      expect((await b.run(["image", "exists", "busybox"])).code).toBe(0);
    } finally {
      if (before === undefined) rmSync(conf, { force: true });
      else writeConf(before);
      await b.ok(["rmi", "-f", img("busybox"), img("multilayer"), "quay.io/other/busybox:latest", "localhost/unrelated:v1"]);
    }
  });

  test("images: --sort, the filters Podman has, its template's fields, table columns from spaces, -n with a table", async () => {
    const layer = (n: string) => [new TarWriter().file(n, n.repeat(1000 * n.length)).end()];
    const old = pushImage(uniqueRepo("old"), layer("o"), { config: { created: "2020-01-01T00:00:00Z", config: { Labels: { tier: "db" } } } });
    const mid = pushImage(uniqueRepo("mid"), layer("mm"), { config: { created: "2022-01-01T00:00:00Z", config: { Labels: { tier: "web", x: "1" } } } });
    const young = pushImage(uniqueRepo("young"), layer("yyy"), { config: { created: "2024-06-01T00:00:00Z" } });
    const id: Record<string, string> = {};
    for (const [k, p] of [["old", old], ["mid", mid], ["young", young]] as const) id[k] = (await b.ok(["pull", "-q", NOTLS, p.ref])).trim().slice(0, 12);
    const q = async (...args: string[]) => (await b.ok(["images", "-q", ...args])).trim().split("\n").filter(Boolean);
    expect(await q()).toEqual([id.young, id.mid, id.old]); // created: newest first, the default
    expect(await q("--sort", "size")).toEqual([id.old, id.mid, id.young]);
    expect(await q("--sort", "id")).toEqual([id.old, id.mid, id.young].sort());
    expect((await b.ok(["images", "--sort", "repository", "--format", "{{.Repository}}"])).trim().split("\n")).toEqual([old.ref, mid.ref, young.ref].map((r) => r.replace(/:latest$/, "")).sort());
    expect(await q("--filter", `before=${mid.ref}`)).toEqual([id.old]);
    expect(await q("--filter", `since=${mid.ref}`)).toEqual([id.young]);
    expect(await q("--filter", "until=2023-01-01T00:00:00Z")).toEqual([id.mid, id.old]);
    expect(await q("--filter", `id=${id.mid.slice(0, 6)}`)).toEqual([id.mid]);
    expect(await q("--filter", "label=tier")).toEqual([id.mid, id.old]);
    expect(await q("--filter", "label=tier=web", "--filter", "label=x")).toEqual([id.mid]);
    expect(await q("--filter", "label!=tier")).toEqual([id.young]);
    expect(await q("--filter", "readonly=true")).toEqual([]);
    const digest = JSON.parse(await b.ok(["image", "inspect", old.ref]))[0].Digest;
    expect(await q("--filter", `digest=${digest}`)).toEqual([id.old]);
    for (const [args, err] of [
      [["--sort", "name"], 'Error: "name" is not a valid field for sorting. Choose from: created, id, repository, size, tag\n'],
      [["--filter", "color=red"], 'Error: unsupported image filter "color": use dangling, reference, before, since, until, id, digest, label, containers, readonly, intermediate or manifest\n'],
    ] as const) {
      const r = await b.run(["images", ...args]);
      expect([r.code, r.stderr]).toEqual([125, err]);
    }
    // the fields of Podman's template: Go times, bytes for VirtualSize, the name lists
    const info = JSON.parse(await b.ok(["image", "inspect", old.ref]))[0];
    expect(await b.ok(["images", "--format", "{{.CreatedAt}}|{{.CreatedTime}}|{{.VirtualSize}}|{{.SharedSize}}|{{.RepoTags}}|{{.RepoDigests}}|{{.ParentId}}", old.ref])).toBe(
      `2020-01-01 00:00:00 +0000 UTC|2020-01-01 00:00:00 +0000 UTC|${info.Size}|0|[${old.ref}]|[${info.RepoDigests.join(" ")}]|\n`,
    );
    // labels as Podman gives them: the map, or null (Go's nil map) for none; a template sees map[]
    const byId = Object.fromEntries(JSON.parse(await b.ok(["images", "--format", "json"])).map((i: any) => [i.Id.slice(0, 12), i.Labels]));
    expect([byId[id.mid], byId[id.young]]).toEqual([{ tier: "web", x: "1" }, null]);
    const shown = async (ref: string) => b.ok(["images", "--format", "{{json .Labels}}|{{.Labels}}", ref]);
    expect([await shown(mid.ref), await shown(young.ref)]).toEqual(['{"tier":"web","x":"1"}|map[tier:web x:1]\n', "null|map[]\n"]);
    expect(await b.ok(["image", "inspect", "--format", "{{json .Config.Labels}}|{{.Config.Labels}}|{{json .Config.Entrypoint}}|{{.Config.Entrypoint}}|{{json .Config.Volumes}}", young.ref])).toBe("null|map[]|null|[]|null\n");
    // table: spaces between fields are columns, as tabs are; -n drops the header there too
    expect(await b.ok(["images", "--format", "table {{.ID}} {{.Tag}}", old.ref])).toBe(`IMAGE ID       TAG\n${id.old}   latest\n`);
    expect(await b.ok(["images", "-n", "--format", "table {{.ID}} {{.Tag}}", old.ref])).toBe(`${id.old}   latest\n`);
    // image prune --filter (Podman's until=, label=, label!=): only what matches goes
    expect(await b.ok(["image", "prune", "-a", "--filter", "label=tier=db"])).toBe(`${info.Id}\n`);
    expect(await b.ok(["image", "prune", "-a", "--filter", "until=2023-01-01T00:00:00Z", "--filter", "label!=nosuchlabel", "--filter", "label=x"])).toMatch(new RegExp(`^${id.mid}[a-f0-9]{52}\n$`));
    const badPrune = await b.run(["image", "prune", "--filter", "color=red"]);
    expect([badPrune.code, badPrune.stderr]).toEqual([125, 'Error: unsupported image prune filter "color": use until, label or label!\n']);
    expect(await q()).toEqual([id.young]);
    await b.ok(["rmi", young.ref]);
  });

  test("a config without a creation time: the image is as old as its pull (not 1970)", async () => {
    const pushed = pushImage(uniqueRepo("undated"), [new TarWriter().file("a", "x").end()], { config: { created: undefined } });
    const before = Date.now();
    await b.ok(["pull", "-q", NOTLS, pushed.ref]);
    const created = Date.parse(JSON.parse(await b.ok(["image", "inspect", pushed.ref]))[0].Created);
    expect(created).toBeGreaterThanOrEqual(before - 1000);
    expect(created).toBeLessThanOrEqual(Date.now());
    expect(await b.ok(["images", "--format", "{{.CreatedSince}}", pushed.ref])).not.toContain("years");
    await b.ok(["rmi", pushed.ref]);
  });

  test("image inspect: the manifest's annotations, the config's comment, names latest first", async () => {
    const pushed = pushImage(uniqueRepo("annotated"), [new TarWriter().file("a", "x").end()], {
      config: { comment: "made by a test", created: "2025-03-04T05:06:07.123456789Z", config: { Labels: { zeta: "1", alpha: "2", "org.b": "3" } } },
      annotations: { "org.example.z": "z", "org.example.note": "hello" },
    });
    await b.ok(["pull", "-q", NOTLS, pushed.ref]);
    await b.ok(["tag", pushed.ref, "second:v1"]);
    const text = await b.ok(["image", "inspect", pushed.ref]);
    const info = JSON.parse(text)[0];
    expect([info.Annotations, info.Comment, info.NamesHistory]).toEqual([{ "org.example.note": "hello", "org.example.z": "z" }, "made by a test", ["localhost/second:v1", pushed.ref]]);
    // maps with their keys sorted, as Go writes them (Podman's JSON and {{json}})
    expect(Object.keys(info.Config.Labels)).toEqual(["alpha", "org.b", "zeta"]);
    expect(Object.keys(info.Annotations)).toEqual(["org.example.note", "org.example.z"]);
    expect(text.indexOf('"alpha"')).toBeLessThan(text.indexOf('"zeta"'));
    expect(await b.ok(["image", "inspect", "--format", "{{json .Config.Labels}}", pushed.ref])).toBe('{"alpha":"2","org.b":"3","zeta":"1"}\n');
    // a time.Time in a template prints as Go prints it, nanoseconds kept; json gives RFC 3339
    expect(await b.ok(["image", "inspect", "--format", "{{.Created}}|{{json .Created}}|{{printf \"%T\" .Created}}", pushed.ref])).toBe(
      '2025-03-04 05:06:07.123456789 +0000 UTC|"2025-03-04T05:06:07.123456789Z"|time.Time\n',
    );
    expect(await b.ok(["inspect", "--format", "{{.Created}}", pushed.ref])).toBe("2025-03-04 05:06:07.123456789 +0000 UTC\n");
    await b.ok(["rmi", "-f", pushed.ref, "second:v1"]);
  });

  test("pulled by digest: REPO <none>, not dangling, kept by image prune; untagged: dangling", async () => {
    const ref = `${REGISTRY}/busybox@${digests.busybox}`;
    const id = (await b.ok(["pull", "-q", NOTLS, ref])).trim();
    expect(JSON.parse(await b.ok(["image", "inspect", ref]))[0].NamesHistory).toEqual([ref]);
    const rows = (await b.ok(["images", "--format", "{{.Repository}} {{.Tag}} {{.Digest}} {{.Dangling}}"])).trim().split("\n");
    expect(rows).toContain(`${REGISTRY}/busybox <none> ${digests.busybox} false`);
    expect((await b.ok(["images", "-q", "--filter", "dangling=true"])).trim()).toBe("");
    expect((await b.ok(["image", "prune"])).trim()).toBe("");
    expect((await b.ok(["images", "-q"])).trim()).toBe(id.slice(0, 12));
    // a tag added and removed again: the digest's name keeps the image (Podman's rmi untags)
    await b.ok(["tag", ref, "extra:v1"]);
    expect(await b.ok(["rmi", "extra:v1"])).toBe("Untagged: localhost/extra:v1\n");
    expect((await b.run(["image", "exists", ref])).code).toBe(0);
    // name:tag@digest is the digest's image and gets no tag (the tag may name another image now)
    await b.ok(["pull", "-q", NOTLS, `${REGISTRY}/busybox:elsewhere@${digests.busybox}`]);
    expect((await b.run(["image", "exists", `${REGISTRY}/busybox:elsewhere`])).code).toBe(1);
    expect(rows).toContain(`${REGISTRY}/busybox <none> ${digests.busybox} false`);
    await b.ok(["untag", ref]);
    expect((await b.ok(["images", "-q", "--filter", "dangling=true"])).trim()).toBe(id.slice(0, 12));
    expect((await b.ok(["image", "prune"])).trim()).toBe(id);
  });

  test("lookup: a name wins over an ID prefix; a typed library/ is kept; reference filters are alternatives; images NAME", async () => {
    const bb = (await b.ok(["pull", "-q", NOTLS, img("busybox")])).trim();
    const ml = (await b.ok(["pull", "-q", NOTLS, img("multilayer")])).trim();
    // a local name that is also the start of the other image's ID
    const prefix = ml.slice(0, 4);
    await b.ok(["tag", img("busybox"), prefix]);
    expect(JSON.parse(await b.ok(["image", "inspect", prefix]))[0].Id).toBe(bb);
    expect(await b.ok(["rmi", prefix])).toBe(`Untagged: localhost/${prefix}:latest\n`);
    expect((await b.ok(["images", "-q", "--no-trunc"])).trim().split("\n").sort()).toEqual([`sha256:${bb}`, `sha256:${ml}`].sort());
    // with the name gone, the prefix is the ID again
    expect(JSON.parse(await b.ok(["image", "inspect", prefix]))[0].Id).toBe(ml);
    await b.ok(["tag", img("busybox"), "library/mylib:v1"]);
    expect((await b.run(["image", "exists", "library/mylib:v1"])).code).toBe(0);
    expect(await b.ok(["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=library/mylib"])).toBe("localhost/library/mylib:v1\n");
    for (const pattern of ["mylib:v1", "mylib"]) expect(await b.ok(["images", "--format", "{{.Repository}}:{{.Tag}}", pattern])).toBe("localhost/library/mylib:v1\n");
    expect(await b.ok(["rmi", "library/mylib:v1"])).toBe("Untagged: localhost/library/mylib:v1\n");
    const two = await b.ok(["images", "-q", "--filter", `reference=${REGISTRY}/busybox`, "--filter", `reference=${REGISTRY}/multilayer`]);
    expect(two.trim().split("\n").sort()).toEqual([bb.slice(0, 12), ml.slice(0, 12)].sort());
    expect((await b.ok(["images", "-q", "multilayer"])).trim()).toBe(ml.slice(0, 12));
    expect((await b.ok(["images", "-q", "nosuch"])).trim()).toBe("");
    const extra = await b.run(["images", "a", "b"]);
    expect([extra.code, extra.stderr.trim().split("\n").length]).toEqual([125, 1]);
    await b.ok(["rmi", img("busybox"), img("multilayer")]);
  });

  test("two pulls of the same image at once both succeed", async () => {
    const [a, c] = await Promise.all([b.run(["pull", "-q", NOTLS, img("multilayer")]), b.run(["pull", "-q", NOTLS, img("multilayer")])]);
    expect(a.stderr + c.stderr).toBe("");
    expect([a.code, c.code]).toEqual([0, 0]);
    expect(a.stdout).toBe(c.stdout);
    expect(readdirSync(join(b.root, "tmp"))).toEqual([]);
    await b.ok(["rmi", img("multilayer")]);
  });
});

describe("registry auth (rootless)", () => {
  const b = box("rootless");
  const AUTH = ENV.AUTH_REGISTRY;

  test("no credentials: clear error; wrong password refused; login stores 0600 auth.json; pull works; logout", async () => {
    let r = await b.run(["pull", NOTLS, `${AUTH}/busybox:latest`]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/authentication required/);
    // wrong --creds: said once, not again in the registry's words
    r = await b.run(["pull", NOTLS, "--creds", `${ENV.AUTH_USER}:wrong`, `${AUTH}/busybox:latest`]);
    expect([r.code, r.stderr.match(/authentication required/g)?.length]).toEqual([125, 1]);
    expect(r.stderr).toMatch(/credentials were rejected/);
    r = await b.run(["login", NOTLS, "-u", ENV.AUTH_USER, "--password-stdin", AUTH], { stdin: "wrong\n" });
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/invalid username or password/);
    const authFile = join(b.runroot, "containers/auth.json");
    expect(existsSync(authFile)).toBe(false);
    expect(await b.ok(["login", NOTLS, "-u", ENV.AUTH_USER, "--password-stdin", AUTH], { stdin: `${ENV.AUTH_PASS}\n` })).toBe("Login Succeeded!\n");
    expect(statSync(authFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(authFile, "utf8")).auths[AUTH].auth).toBe(Buffer.from(`${ENV.AUTH_USER}:${ENV.AUTH_PASS}`).toString("base64"));
    expect((await b.ok(["login", "--get-login", AUTH])).trim()).toBe(ENV.AUTH_USER);
    await b.ok(["pull", "-q", NOTLS, `${AUTH}/busybox:latest`]);
    expect((await b.ok(["logout", AUTH])).trim()).toBe(`Removed login credentials for ${AUTH}`);
    expect(JSON.parse(readFileSync(authFile, "utf8")).auths[AUTH]).toBeUndefined();
    // --creds works without a stored login
    await b.ok(["rmi", `${AUTH}/busybox:latest`]);
    await b.ok(["pull", "-q", NOTLS, "--creds", `${ENV.AUTH_USER}:${ENV.AUTH_PASS}`, `${AUTH}/busybox:latest`]);
    await b.ok(["rmi", `${AUTH}/busybox:latest`]);
    // a URL stands for its host[:port] (the key pulls look up), and --password-stdin
    // joins the lines it reads, as Podman does (so a blank line at the end is harmless)
    expect(await b.ok(["login", NOTLS, "-u", ENV.AUTH_USER, "--password-stdin", `https://${AUTH}/v2/`], { stdin: `${ENV.AUTH_PASS}\n\n` })).toBe("Login Succeeded!\n");
    expect(Object.keys(JSON.parse(readFileSync(authFile, "utf8")).auths)).toEqual([AUTH]);
    await b.ok(["pull", "-q", NOTLS, `${AUTH}/busybox:latest`]);
    expect((await b.ok(["logout", `http://${AUTH}/v2/`])).trim()).toBe(`Removed login credentials for ${AUTH}`);
    expect(JSON.parse(readFileSync(authFile, "utf8")).auths).toEqual({});
    await b.ok(["rmi", `${AUTH}/busybox:latest`]);
  });

  test("login and logout with no registry use the first unqualified-search registry (as Podman); with none listed, one clear error", async () => {
    const conf = join(b.dir, "search.conf");
    writeFileSync(conf, `unqualified-search-registries = ["${AUTH}", "${REGISTRY}"]\n`);
    const env = { CONTAINERS_REGISTRIES_CONF: conf };
    expect(await b.ok(["login", NOTLS, "-u", ENV.AUTH_USER, "--password-stdin"], { stdin: `${ENV.AUTH_PASS}\n`, env })).toBe("Login Succeeded!\n");
    expect((await b.ok(["login", "--get-login"], { env })).trim()).toBe(ENV.AUTH_USER);
    expect((await b.ok(["logout"], { env })).trim()).toBe(`Removed login credentials for ${AUTH}`);
    expectOneError(await b.run(["logout"], { env }), new RegExp(`^Error: not logged into ${AUTH.replace(/\./g, "\\.")}$`));
    writeFileSync(conf, "unqualified-search-registries = []\n");
    expectOneError(await b.run(["logout"], { env }), /please provide a registry/);
  });
});

describe.each(MODES)("pull options (%s)", (mode) => {
  const b = box(mode);

  test("--arch/--os pick the platform as --platform does (not both); several images are pulled in turn", async () => {
    const raw = JSON.parse(skopeo(["inspect", "--tls-verify=false", "--raw", `docker://${img("multiarch")}`]));
    const arm = raw.manifests.find((m: any) => m.platform.architecture === "arm64").digest;
    await b.ok(["pull", "-q", NOTLS, "--arch", "arm64", "--os", "linux", img("multiarch")]);
    const info = JSON.parse(await b.ok(["image", "inspect", img("multiarch")]))[0];
    expect([info.Architecture, info.Os]).toEqual(["arm64", "linux"]);
    expect(info.RepoDigests).toContain(`${REGISTRY}/multiarch@${arm}`);
    const both = await b.run(["pull", NOTLS, "--platform", "linux/arm64", "--arch", "arm64", img("multiarch")]);
    expect([both.code, both.stderr.trim().split("\n").length]).toEqual([125, 1]);
    const two = await b.run(["pull", "-q", NOTLS, img("busybox"), img("multilayer")]);
    expect(two.code).toBe(0);
    const ids = two.stdout.trim().split("\n");
    expect(ids).toHaveLength(2);
    expect(JSON.parse(await b.ok(["image", "inspect", img("multilayer")]))[0].Id).toBe(ids[1]);
    await b.ok(["rmi", img("busybox"), img("multilayer"), img("multiarch")]);
    // one that fails does not stop the rest (as Podman): each failure said, exit 125
    const some = await b.run(["pull", "-q", NOTLS, img("nosuch1"), img("busybox"), img("nosuch2")]);
    expect([some.code, some.stdout.trim().split("\n").length, some.stderr]).toEqual([125, 1, `Error: ${img("nosuch1")}: not found\nError: ${img("nosuch2")}: not found\n`]);
    expect((await b.run(["image", "exists", img("busybox")])).code).toBe(0);
    await b.ok(["rmi", img("busybox")]);
    // an auth file named but missing is an error, as in Podman (not "no credentials")
    const noAuth = await b.run(["pull", NOTLS, "--authfile", join(b.dir, "missing.json"), img("busybox")]);
    expect([noAuth.code, noAuth.stderr]).toEqual([125, `Error: checking authfile: stat ${join(b.dir, "missing.json")}: no such file or directory\n`]);
  });

  test("docker:// is taken, other transports refused; a bad --platform is refused before anything is tried; image exists of a bad reference is 125", async () => {
    const id = (await b.ok(["pull", "-q", NOTLS, `docker://${img("busybox")}`])).trim();
    expect(JSON.parse(await b.ok(["image", "inspect", img("busybox")]))[0].Id).toBe(id);
    for (const args of [["pull", "oci:/tmp/x"], ["pull", NOTLS, "--platform", "bogus", img("busybox")], ["image", "exists", "BAD//x"]]) {
      const r = await b.run(args);
      expect([args, r.code, r.stdout, r.stderr.trim().split("\n").length]).toEqual([args, 125, "", 1]);
      expect(r.stderr).not.toContain("Trying to pull");
    }
    expect((await b.run(["image", "exists", "nosuch:v1"])).code).toBe(1);
    await b.ok(["rmi", img("busybox")]);
  });

  test("--authfile: the credentials of that file are used (login --authfile wrote it)", async () => {
    const file = join(b.home, `auth-${mode}.json`);
    const reg = ENV.AUTH_REGISTRY;
    try {
      await b.ok(["login", "--tls-verify=false", "--authfile", file, "-u", ENV.AUTH_USER, "-p", ENV.AUTH_PASS, reg]);
      const without = await b.run(["pull", "-q", NOTLS, `${reg}/busybox:latest`]);
      expect(without.code).toBe(125);
      expect(without.stderr).toMatch(/authentication required/);
      const id = (await b.ok(["pull", "-q", NOTLS, "--authfile", file, `${reg}/busybox:latest`])).trim();
      expect(id).toMatch(/^[a-f0-9]{64}$/);
      await b.ok(["rmi", `${reg}/busybox:latest`]);
    } finally {
      rmSync(file, { force: true });
    }
  });
});
