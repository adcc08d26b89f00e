// commit: a container's changes as a new image. Checked by running the new
// image, by reading its layer blob with GNU tar, and by pushing it to the test
// registry and reading it back with skopeo (manifest, config, every blob's
// digest). Each storage driver, root and rootless.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEach, expectOneError, MODES, REGISTRY, skopeo, sandboxes, ENV, type Sandbox } from "../helpers/tspod.ts";
import { deleteFromRegistry, sha256, uniqueRepo } from "../helpers/oci.ts";

const box = sandboxes();
const BB = `${REGISTRY}/busybox:latest`;
const NOTLS = "--tls-verify=false";

// The changes every driver must carry over: a new file, a changed one, a removed one
// (a whiteout), a directory emptied and filled again (opaque), a hard link, a
// symlink, another owner, a setuid bit, a FIFO.
const CHANGES = [
  "echo hi > /etc/hello",
  "echo more >> /etc/passwd",
  "rm /etc/group /bin/zcat",
  "rm -rf /home",
  "mkdir -p /home/new /x/y",
  "ln /etc/hello /x/hl",
  "ln -s /etc/hello /x/l",
  "mkfifo /x/fifo",
  "chown 33:33 /x/y",
  "chmod 4755 /etc/hello",
].join("; ");
const CHECK = "cat /etc/hello; tail -1 /etc/passwd; ls /etc/group /bin/zcat 2>&1; ls /home; stat -c '%n %h %u %a %F' /x/hl /x/y /x/fifo; readlink /x/l; ls /bin | wc -l";

/** Until a commit's temp blob in tmp/ holds more than 1 MB (it is writing the layer), at most 4 s. */
async function blobGrown(tmp: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (readdirSync(tmp).some((n) => n.startsWith("blob-") && Bun.file(join(tmp, n)).size > 1_000_000)) return;
    await Bun.sleep(10);
  }
}

/** The layer blobs of a stored image (from its manifest in the store), bottom first. */
function layerBlobs(b: Sandbox, id: string): string[] {
  const rec = JSON.parse(readFileSync(join(b.root, "images", `${id}.json`), "utf8"));
  const manifest = JSON.parse(readFileSync(join(b.root, "blobs/sha256", rec.manifest.digest.slice(7)), "utf8"));
  return manifest.layers.map((l: { digest: string }) => join(b.root, "blobs/sha256", l.digest.slice(7)));
}

/** GNU tar's listing of a gzipped layer: "TYPE+MODE UID/GID NAME[ -> TARGET]" per entry. */
function tarList(blob: string): string[] {
  const r = Bun.spawnSync(["tar", "-tvzf", blob, "--numeric-owner"], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`tar: ${r.stderr}`);
  return r.stdout
    .toString()
    .trim()
    .split("\n")
    .map((l) => {
      const f = l.split(/\s+/);
      return [f[0], f[1], ...f.slice(5)].join(" ");
    });
}

describe.each(MODES)("commit (%s)", (mode) => {
  const b = box(mode);
  cleanEach(b);
  beforeAll(async () => {
    await b.ok(["pull", "-q", NOTLS, BB]);
  });

  test.each(["overlay", "fuse-overlayfs", "vfs"])("%s: the new image holds the container's changes and nothing else", async (driver) => {
    const d = ["--storage-driver", driver];
    await b.ok([...d, "run", "--name", `c-${driver}`, BB, "sh", "-c", CHANGES]);
    const r = await b.run([...d, "commit", `c-${driver}`, `img-${driver}`]);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect(r.stderr).toContain("Writing manifest to image destination");
    const out = (await b.ok([...d, "run", "--rm", `img-${driver}`, "sh", "-c", CHECK])).split("\n");
    expect(out.slice(0, 2)).toEqual(["hi", "more"]);
    expect(out[2]).toMatch(/\/etc\/group: No such file/);
    expect(out[3]).toMatch(/\/bin\/zcat: No such file/);
    expect(out[4]).toBe("new"); // the image's /home/www is gone
    expect(out[5]).toBe("/x/hl 2 0 4755 regular file");
    expect(out[6]).toBe("/x/y 2 33 755 directory");
    expect(out[7]).toMatch(/^\/x\/fifo 1 0 644 fifo$/);
    expect(out[8]).toBe("/etc/hello");
    const base = Number((await b.ok([...d, "run", "--rm", BB, "sh", "-c", "ls /bin | wc -l"])).trim());
    expect(Number(out[9])).toBe(base - 1);

    // the layer, read by GNU tar: the changes only (vfs compares its copy with the image's layers)
    const blobs = layerBlobs(b, id);
    const list = tarList(blobs[blobs.length - 1]!);
    expect(list).toContain("-rwsr-xr-x 0/0 etc/hello");
    expect(list).toContain("---------- 0/0 etc/.wh.group");
    expect(list).toContain("---------- 0/0 bin/.wh.zcat");
    expect(list).toContain("hrwsr-xr-x 0/0 x/hl link to etc/hello");
    expect(list).toContain("lrwxrwxrwx 0/0 x/l -> /etc/hello");
    expect(list).toContain("drwxr-xr-x 33/33 x/y/");
    expect(list).toContain("prw-r--r-- 0/0 x/fifo");
    // the old /home/www: an opaque directory (overlay) or a whiteout (vfs's comparison)
    expect(list.some((l) => l.endsWith("home/.wh..wh..opq") || l.endsWith("home/.wh.www"))).toBe(true);
    expect(list.some((l) => / bin\/busybox$/.test(l) || / etc\/abs-link/.test(l))).toBe(false);
    expect(readdirSync(join(b.root, "tmp")).filter((n) => !n.startsWith("trash-"))).toEqual([]);
  });

  test("the config: the container's command, workdir, own variables, labels and ports, then --change; author, message, parent", async () => {
    await b.ok(["run", "--name", "cfg", "-e", "MINE=1", "-w", "/tmp", "-l", "team=a", "-p", "127.0.0.1::80", "-v", "/data", BB, "sh", "-c", "touch /made"]);
    const id = (
      await b.ok([
        "commit", "-q", "--include-volumes", "-a", "Ann <ann@example.com>", "-m", "first cut",
        "-c", 'ENV A=1 B="two words"', "-c", "ENV C three words", "-c", 'CMD ["/bin/sh","-c","ls /made"]', "-c", "WORKDIR sub",
        "-c", "EXPOSE 53/udp 8080", "-c", "LABEL team=b extra=yes", "-c", "USER 33", "-c", "VOLUME /cache", "-c", "STOPSIGNAL SIGINT",
        "cfg", "cfg-img",
      ])
    ).trim();
    const base = (await b.ok(["image", "inspect", "-f", "{{.Id}}", BB])).trim();
    const info = JSON.parse(await b.ok(["image", "inspect", "cfg-img"]))[0];
    expect(info.Id).toBe(id);
    expect(info.RepoTags).toEqual(["localhost/cfg-img:latest"]);
    expect(info.Parent).toBe(base);
    expect(info.Author).toBe("Ann <ann@example.com>");
    const c = info.Config;
    // tspod's own HOSTNAME, HOME, TERM and container= are not the image's
    expect(c.Env).toEqual(["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "MINE=1", "A=1", "B=two words", "C=three words"]);
    expect(c.Cmd).toEqual(["/bin/sh", "-c", "ls /made"]);
    expect(c.WorkingDir).toBe("/tmp/sub");
    expect(c.User).toBe("33");
    expect(c.Labels).toEqual({ extra: "yes", team: "b" });
    expect(Object.keys(c.ExposedPorts)).toEqual(["53/udp", "80/tcp", "8080/tcp"]);
    expect(Object.keys(c.Volumes)).toEqual(["/cache", "/data"]);
    expect(c.StopSignal).toBe("SIGINT");
    const last = info.History[info.History.length - 1];
    expect(last.created_by).toBe("sh -c touch /made");
    expect(last.comment).toBe("first cut");
    expect(info.RootFS.Layers.length).toBe(2);
    // history: this image's entry and its parent's, each with its ID
    expect((await b.ok(["history", "-q", "--no-trunc", "cfg-img"])).trim().split("\n")).toEqual([id, base]);
    // the new image runs with it: its command, as user 33, in /tmp/sub
    expect((await b.ok(["run", "--rm", "cfg-img"])).trim()).toBe("/made");
    expect((await b.ok(["run", "--rm", "cfg-img", "sh", "-c", "id -u; pwd; echo $B"])).trim().split("\n")).toEqual(["33", "/tmp/sub", "two words"]);
  });

  test("pushed to the registry, skopeo reads it back: the same manifest digest, every blob's digest, the diff ids; Docker's format too", async () => {
    await b.ok(["run", "--name", "p", BB, "sh", "-c", "echo pushed > /p.txt"]);
    const repos: { name: string; digests: string[] }[] = [];
    try {
      for (const format of ["oci", "docker"]) {
        const repo = uniqueRepo(`commit-${format}`);
        repos.push({ name: repo, digests: [] });
        const ref = `${REGISTRY}/${repo}:v1`;
        const id = (await b.ok(["commit", "-q", "-f", format, "p", ref])).trim();
        const local = JSON.parse(await b.ok(["image", "inspect", ref]))[0];
        expect(local.ManifestType).toBe(format === "oci" ? "application/vnd.oci.image.manifest.v1+json" : "application/vnd.docker.distribution.manifest.v2+json");
        await b.ok(["push", "-q", NOTLS, ref]);
        const raw = skopeo(["inspect", "--tls-verify=false", "--raw", `docker://${ref}`]);
        expect(sha256(raw)).toBe(local.Digest);
        const cfgRaw = skopeo(["inspect", "--tls-verify=false", "--config", "--raw", `docker://${ref}`]);
        expect(sha256(cfgRaw)).toBe(`sha256:${id}`);
        const cfg = JSON.parse(cfgRaw);
        const manifest = JSON.parse(raw);
        expect(manifest.layers.length).toBe(2);
        expect(cfg.rootfs.diff_ids).toEqual(local.RootFS.Layers);
        // skopeo checks every blob's digest as it copies; the new layer's diff id is its gunzipped bytes' digest
        const dir = join(b.dir, `copy-${format}`);
        skopeo(["copy", "--insecure-policy", "-q", "--src-tls-verify=false", `docker://${ref}`, `dir:${dir}`]);
        const top = manifest.layers[1].digest.slice(7);
        expect(sha256(Bun.gunzipSync(readFileSync(join(dir, top))))).toBe(cfg.rootfs.diff_ids[1]);
        repos[repos.length - 1]!.digests.push(local.Digest);
        // and a fresh store pulls it and runs it
        const other = await b.run(["--root", join(b.dir, `other-${format}`), "run", "--rm", NOTLS, ref, "cat", "/p.txt"]);
        expect(other.stdout.trim()).toBe("pushed");
      }
    } finally {
      deleteFromRegistry(ENV.REGISTRY_STORAGE, repos);
    }
  });

  test("a running container: committed as it is, --pause pauses it for the commit and it runs on after", async () => {
    await b.ok(["run", "-d", "--name", "live", BB, "sh", "-c", "echo now > /live.txt; sleep 60"]);
    for (let i = 0; i < 100 && (await b.run(["exec", "live", "test", "-f", "/live.txt"])).code !== 0; i++) await Bun.sleep(50);
    const id = (await b.ok(["commit", "-q", "-p", "live", "live-img"])).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    expect((await b.ok(["inspect", "-f", "{{.State.Status}}", "live"])).trim()).toBe("running");
    expect((await b.ok(["run", "--rm", "live-img", "cat", "/live.txt"])).trim()).toBe("now");
    // (and without --pause)
    await b.ok(["exec", "live", "sh", "-c", "echo second > /second.txt"]);
    await b.ok(["commit", "-q", "live", "live-img:2"]);
    expect((await b.ok(["run", "--rm", "live-img:2", "cat", "/second.txt"])).trim()).toBe("second");
  });

  test("no name: a dangling image; --iidfile; the image of the container removed afterwards leaves the new one whole", async () => {
    await b.ok(["run", "--name", "dang", BB, "sh", "-c", "echo x > /x.txt"]);
    const iid = join(b.dir, "iid");
    const id = (await b.ok(["commit", "-q", "--iidfile", iid, "dang"])).trim();
    expect(readFileSync(iid, "utf8")).toBe(id);
    expect((await b.ok(["images", "-q", "--filter", "dangling=true", "--no-trunc"])).trim()).toBe(`sha256:${id}`);
    await b.ok(["tag", id, "kept"]);
    await b.ok(["rm", "dang"]);
    await b.ok(["rmi", BB]);
    expect((await b.ok(["run", "--rm", "kept", "cat", "/x.txt"])).trim()).toBe("x");
    await b.ok(["pull", "-q", NOTLS, BB]);
  });

  test("refused with one line and exit 125, nothing stored: unknown container, bad --change, bad name, --squash, --format", async () => {
    await b.ok(["run", "--name", "bad", BB, "true"]);
    const images = () => readdirSync(join(b.root, "images")).sort();
    const blobs = () => readdirSync(join(b.root, "blobs/sha256")).sort();
    const before = [images(), blobs()];
    expectOneError(await b.run(["commit", "nosuch", "x"]), /no container with name or ID "nosuch" found/);
    expectOneError(await b.run(["commit", "-c", "BOGUS x", "bad", "x"]), /invalid change "BOGUS x": unknown instruction BOGUS/);
    expectOneError(await b.run(["commit", "-c", "EXPOSE 99999", "bad", "x"]), /invalid change "EXPOSE 99999"/);
    expectOneError(await b.run(["commit", "-c", "ENV", "bad", "x"]), /invalid change "ENV"/);
    expectOneError(await b.run(["commit", "bad", "Bad Name"]), /Bad Name/);
    expectOneError(await b.run(["commit", "--squash", "bad", "x"]), /--squash: not supported/);
    expectOneError(await b.run(["commit", "-f", "v2s1", "bad", "x"]), /--format v2s1: must be oci or docker/);
    expect([images(), blobs()]).toEqual(before);
  });

  test("Ctrl-C in the middle of commit --pause: exit 130, the container runs on, no image, no temp file", async () => {
    await b.ok(["run", "-d", "--name", "int", BB, "sh", "-c", "head -c 48000000 /dev/urandom > /big.bin; touch /done; sleep 60"]);
    for (let i = 0; i < 400 && (await b.run(["exec", "int", "test", "-f", "/done"])).code !== 0; i++) await Bun.sleep(50);
    const images = () => readdirSync(join(b.root, "images")).filter((n) => n.endsWith(".json")).sort();
    const before = images();
    const p = Bun.spawn(b.tspodArgs(["commit", "-q", "-p", "int", "int-img"]), { stdout: "pipe", stderr: "pipe" });
    const tmp = join(b.root, "tmp");
    await blobGrown(tmp);
    expect((await b.ok(["inspect", "-f", "{{.State.Status}}", "int"])).trim()).toBe("paused");
    p.kill("SIGINT");
    expect(await p.exited).toBe(130);
    expect((await b.ok(["inspect", "-f", "{{.State.Status}}", "int"])).trim()).toBe("running");
    expect(images()).toEqual(before);
    expect(readdirSync(tmp).filter((n) => !n.startsWith("trash-"))).toEqual([]);
  });

  test("the container removed in the middle of its commit: the commit fails, no image, no blob left", async () => {
    await b.ok(["run", "--name", "gone", BB, "sh", "-c", "for i in 1 2 3 4; do head -c 12000000 /dev/urandom > /f$i; done; touch /zz"]);
    const images = () => readdirSync(join(b.root, "images")).filter((n) => n.endsWith(".json")).sort();
    const blobs = () => readdirSync(join(b.root, "blobs/sha256")).sort();
    const before = [images(), blobs()];
    const p = Bun.spawn(b.tspodArgs(["commit", "-q", "gone", "gone-img"]), { stdout: "pipe", stderr: "pipe" });
    const tmp = join(b.root, "tmp");
    await blobGrown(tmp);
    await b.ok(["rm", "gone"]);
    const [stderr, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
    expect(code).toBe(125);
    expect(stderr.trim()).toBe("Error: container gone was removed while its changes were read: nothing committed");
    expect([images(), blobs()]).toEqual(before);
  });

  test("kill -9 in the middle of a commit: no image, no blob; the next commit succeeds", async () => {
    await b.ok(["run", "--name", "big", BB, "sh", "-c", "head -c 48000000 /dev/urandom > /big.bin"]);
    const images = () => readdirSync(join(b.root, "images")).filter((n) => n.endsWith(".json")).sort();
    const before = images();
    const blobsBefore = readdirSync(join(b.root, "blobs/sha256")).sort();
    const p = Bun.spawn(b.tspodArgs(["commit", "-q", "big", "big-img"]), { stdout: "pipe", stderr: "pipe" });
    // killed once it has written part of the layer (its temp blob grows)
    const tmp = join(b.root, "tmp");
    await blobGrown(tmp);
    p.kill("SIGKILL");
    await p.exited;
    expect(images()).toEqual(before);
    expect(readdirSync(join(b.root, "blobs/sha256")).sort()).toEqual(blobsBefore);
    const id = (await b.ok(["commit", "-q", "big", "big-img"])).trim();
    expect(images()).toContain(`${id}.json`);
    expect(readdirSync(tmp).filter((n) => n.startsWith("blob-") || n.startsWith("layer-"))).toEqual([]);
    expect((await b.ok(["run", "--rm", "big-img", "sh", "-c", "wc -c < /big.bin"])).trim()).toBe("48000000");
    expect(existsSync(join(b.root, "images", `${id}.json`))).toBe(true);
  });
});
