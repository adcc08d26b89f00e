// Named volumes: -v NAME:/path (made as needed, copied up on first use), and
// volume create|ls|inspect|rm|prune|exists. Root and rootless, real containers.
import { afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEach, ENV, errorLines, expectOneError, MODES, REGISTRY, sandboxes, tempDir } from "../helpers/tspod.ts";
import { pushImage, uniqueRepo } from "../helpers/oci.ts";
import { TarWriter } from "../helpers/tarwriter.ts";

const box = sandboxes();
const BB = `${REGISTRY}/busybox:latest`;

describe.each(MODES)("volumes (%s)", (mode) => {
  const b = box(mode);
  cleanEach(b);
  afterEach(async () => {
    await b.ok(["volume", "rm", "--all", "--force"]);
  });
  beforeAll(async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
  });
  const lines = (s: string) => s.split("\n").filter(Boolean);
  /** the host id a container id maps to */
  const hostId = (id: number, self: number) => (mode === "root" ? id : id === 0 ? self : Number(ENV.SUBID_START) + id - 1);

  test("-v NAME:/path makes the volume; its files outlive the container, owned as written; :ro; inspect in Podman's shapes", async () => {
    await b.ok(["run", "--rm", "-v", "data:/data", BB, "sh", "-c", "echo hi > /data/f && mkdir /data/d && chown 1000:1000 /data/d"]);
    const vol = JSON.parse(await b.ok(["volume", "inspect", "data"]))[0];
    expect(vol).toMatchObject({ Name: "data", Driver: "local", Mountpoint: join(b.root, "volumes/data/_data"), Labels: {}, Scope: "local", Options: {} });
    expect(readFileSync(join(vol.Mountpoint, "f"), "utf8")).toBe("hi\n");
    expect(statSync(join(vol.Mountpoint, "f")).uid).toBe(hostId(0, b.uid));
    expect(statSync(join(vol.Mountpoint, "d")).uid).toBe(hostId(1000, b.uid));
    // mounted nosuid,nodev, as Podman mounts volumes
    expect((await b.ok(["run", "--rm", "-v", "data:/data", BB, "sh", "-c", "grep ' /data ' /proc/mounts"])).split(" ")[3].split(",")).toEqual(expect.arrayContaining(["nosuid", "nodev"]));
    // another container sees it; :ro cannot write
    expect(await b.ok(["run", "--rm", "-v", "data:/other", BB, "cat", "/other/f"])).toBe("hi\n");
    const ro = await b.run(["run", "--rm", "-v", "data:/data:ro", BB, "touch", "/data/g"]);
    expect(ro.code).toBe(1);
    expect(ro.stderr).toContain("Read-only file system");
    await b.ok(["create", "--name", "user", "-v", "data:/data:ro", BB]);
    const c = JSON.parse(await b.ok(["inspect", "user"]))[0];
    expect(c.Mounts).toEqual([{ Type: "volume", Name: "data", Source: vol.Mountpoint, Destination: "/data", Driver: "local", Mode: "", Options: ["nosuid", "nodev", "rbind"], RW: false, Propagation: "rprivate" }]);
    expect(c.HostConfig.Binds).toEqual(["data:/data:ro,rprivate,nosuid,nodev,rbind"]);
    // rm of the container keeps the volume (as Podman's rm without -v)
    await b.ok(["rm", "user"]);
    expect(lines(await b.ok(["volume", "ls", "-q"]))).toEqual(["data"]);
    // a name that is no volume name nor a path: refused before anything is made
    expectOneError(await b.run(["run", "--rm", "-v", "bad!name:/x", BB, "true"]), /invalid volume "bad!name:\/x"/);
    expectOneError(await b.run(["volume", "create", "a/../../b"]), /invalid volume name/);
    expect(lines(await b.ok(["volume", "ls", "-q"]))).toEqual(["data"]);
    expect(await b.ok(["ps", "-aq"])).toBe("");
  });

  test("first use copies the image's content in (owners, modes, symlinks), only into an empty volume and only once; nocopy does not", async () => {
    expect(await b.ok(["run", "--rm", "-v", "www:/home/www", BB, "sh", "-c", "stat -c '%u:%g %a %n' /home/www /home/www/index.html; cat /home/www/index.html"])).toBe(
      (await b.ok(["run", "--rm", BB, "sh", "-c", "stat -c '%u:%g %a %n' /home/www /home/www/index.html; cat /home/www/index.html"])),
    );
    const www = JSON.parse(await b.ok(["volume", "inspect", "www"]))[0];
    expect(www.NeedsCopyUp).toBe(false);
    expect(statSync(join(www.Mountpoint, "index.html")).uid).toBe(hostId(33, b.uid));
    // a symlink stays a symlink (not followed out of the image), its target as written
    await b.ok(["run", "--rm", "-v", "etc:/etc", BB, "true"]);
    const etc = JSON.parse(await b.ok(["volume", "inspect", "etc"]))[0].Mountpoint;
    expect(lstatSync(join(etc, "abs-link")).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(etc, "abs-link"))).toBe("/etc/passwd");
    expect(existsSync(join(etc, "passwd"))).toBe(true);
    // emptied, it is not filled again at the next use
    await b.ok(["run", "--rm", "-v", "www:/home/www", BB, "rm", "/home/www/index.html"]);
    expect(await b.ok(["run", "--rm", "-v", "www:/home/www", BB, "ls", "-A", "/home/www"])).toBe("");
    // a volume made by volume create, not empty: left as it is
    await b.ok(["volume", "create", "full"]);
    await b.ok(["run", "--rm", "-v", "full:/x", BB, "touch", "/x/mine"]);
    expect(await b.ok(["run", "--rm", "-v", "full:/home/www", BB, "ls", "-A", "/home/www"])).toBe("mine\n");
    // only the image's files: not what the runtime mounts (/proc, /sys), which are not copied
    for (const d of ["/proc", "/sys"]) {
      const name = `v${d.slice(1)}`;
      await b.ok(["run", "--rm", "-v", `${name}:${d}`, BB, "true"]);
      expect(await b.sh(`ls -A '${join(b.root, "volumes", name, "_data")}'`)).toMatchObject({ code: 0, stdout: "" });
    }
    // two containers on one new volume at once: both run, the content is copied once, whole
    const page = await b.ok(["run", "--rm", BB, "cat", "/home/www/index.html"]);
    const both = await Promise.all([1, 2].map(() => b.run(["run", "--rm", "-v", "twice:/home/www", BB, "cat", "/home/www/index.html"])));
    expect(both.map((r) => [r.code, r.stdout])).toEqual([[0, page], [0, page]]);
    expect(lines(await b.ok(["run", "--rm", "-v", "twice:/w", BB, "ls", "-A", "/w"]))).toEqual(["index.html"]);
    // nocopy: empty, and the files tspod mounts inside (/etc/hosts ...) are still there over it
    expect(lines(await b.ok(["run", "--rm", "-v", "bare:/etc:nocopy", BB, "ls", "-A", "/etc"]))).toEqual(["hostname", "hosts", "resolv.conf"]);
    expect(await b.ok(["run", "--rm", "-v", "bare:/etc:nocopy", "--hostname", "h1", BB, "cat", "/etc/hostname"])).toBe("h1\n");
    // nocopy is kept, as Podman shows it
    await b.ok(["create", "--name", "nc", "-v", "bare:/etc:ro,nocopy", BB]);
    const nc = JSON.parse(await b.ok(["inspect", "nc"]))[0];
    expect([nc.HostConfig.Binds, nc.Mounts[0].Options]).toEqual([["bare:/etc:ro,nocopy,rprivate,nosuid,nodev,rbind"], ["nocopy", "nosuid", "nodev", "rbind"]]);
    expect(JSON.parse(await b.ok(["volume", "inspect", "bare"]))[0].NeedsCopyUp).toBe(true);
  });

  test("volume create, ls (filters, format), inspect, exists, rm (in use: 2; -f; missing: 1), prune", async () => {
    expect(await b.ok(["volume", "create", "--label", "app=web", "--label", "tier", "v1"])).toBe("v1\n");
    const made = (await b.ok(["volume", "create"])).trim();
    expect(made).toMatch(/^[0-9a-f]{64}$/);
    const dup = await b.run(["volume", "create", "v1"]);
    expect([dup.code, errorLines(dup)]).toEqual([125, ["Error: volume with name v1 already exists: volume already exists"]]);
    expect(await b.ok(["volume", "create", "--ignore", "v1"])).toBe("v1\n");
    expect(JSON.parse(await b.ok(["volume", "inspect", "v1"]))[0].Labels).toEqual({ app: "web", tier: "" });
    await b.ok(["run", "-d", "--name", "holder", "-v", "v2:/v", BB, "sleep", "60"]);
    expect(lines(await b.ok(["volume", "ls", "-q"]))).toEqual([made, "v1", "v2"].sort());
    expect(lines(await b.ok(["volume", "ls", "-q", "--filter", "label=app=web"]))).toEqual(["v1"]);
    expect(lines(await b.ok(["volume", "ls", "-q", "--filter", "dangling=false"]))).toEqual(["v2"]);
    expect(lines(await b.ok(["volume", "ls", "-q", "--filter", "name=v", "--filter", "dangling=true"]))).toEqual(["v1"]);
    expect(lines(await b.ok(["volume", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "name=v1"]))).toEqual(["v1 local"]);
    expect(lines(await b.ok(["volume", "ls", "--filter", "name=v1"]))).toEqual(["DRIVER   VOLUME NAME", "local    v1"]);
    expect((await b.run(["volume", "exists", "v1"])).code).toBe(0);
    expect((await b.run(["volume", "exists", "nope"])).code).toBe(1);
    // inspect of one there and one not: the one there shown, then the error (125), as Podman
    const some = await b.run(["volume", "inspect", "--format", "{{.Name}}", "v1", "nope"]);
    expect([some.code, some.stdout, errorLines(some)]).toEqual([125, "v1\n", ["Error: inspecting object: no such volume nope"]]);
    expect(await b.ok(["volume", "inspect", "--format", "{{.Mountpoint}}", "v2"])).toBe(`${join(b.root, "volumes/v2/_data")}\n`);
    // in use: refused with Podman's 2, one line; -f removes the container first
    const inUse = await b.run(["volume", "rm", "v2"]);
    expect(inUse.code).toBe(2);
    expect(errorLines(inUse)).toEqual([expect.stringMatching(/^Error: volume v2 is being used by the following container\(s\): [0-9a-f]{64}: volume is being used$/)]);
    const missing = await b.run(["volume", "rm", "nope"]);
    expect([missing.code, errorLines(missing)]).toEqual([1, ['Error: no volume with name "nope" found: no such volume']]);
    // prune: the unused ones, named as removed; the one in use stays
    expect(lines(await b.ok(["volume", "prune", "-f"])).sort()).toEqual([made, "v1"].sort());
    expect(lines(await b.ok(["volume", "ls", "-q"]))).toEqual(["v2"]);
    expect(await b.ok(["volume", "rm", "-f", "v2"])).toBe("v2\n");
    expect(await b.ok(["ps", "-aq"])).toBe("");
    expect(await b.ok(["volume", "ls", "-q"])).toBe("");
    expect(existsSync(join(b.root, "volumes/v2"))).toBe(false);
    // nothing half made or half removed left in the store's tmp/
    expect(existsSync(join(b.root, "tmp")) ? (await b.sh(`ls -A '${join(b.root, "tmp")}'`)).stdout : "").toBe("");
  });

  test("anonymous volumes (-v /path, --mount without a source, the image's VOLUME): made per container, gone with --rm and rm -v, kept by rm", async () => {
    const anon = async () => lines(await b.ok(["volume", "ls", "-q"])).filter((n) => /^[0-9a-f]{64}$/.test(n));
    await b.ok(["run", "--rm", "-v", "/data", BB, "sh", "-c", "echo x > /data/f && grep -q ' /data ' /proc/mounts"]);
    expect(await anon()).toEqual([]);
    await b.ok(["run", "-d", "--name", "a1", "-v", "/data", "--mount", "type=volume,destination=/m", BB, "sleep", "60"]);
    const [v1, v2] = await anon().then((l) => l.sort());
    expect([v1, v2].every(Boolean)).toBe(true);
    const m = JSON.parse(await b.ok(["inspect", "a1"]))[0].Mounts;
    expect(m.map((x: any) => [x.Type, x.Destination]).sort()).toEqual([["volume", "/data"], ["volume", "/m"]]);
    expect(JSON.parse(await b.ok(["volume", "inspect", v1]))[0].Anonymous).toBe(true);
    // rm keeps them (dangling, as Podman's), rm -v takes them
    await b.ok(["rm", "-f", "a1"]);
    expect((await anon()).sort()).toEqual([v1, v2].sort());
    await b.ok(["volume", "prune", "-f"]);
    await b.ok(["run", "-d", "--name", "a2", "-v", "/data", BB, "sleep", "60"]);
    expect((await anon()).length).toBe(1);
    await b.ok(["rm", "-fv", "a2"]);
    expect(await anon()).toEqual([]);
    // the image's VOLUME: an anonymous volume with the image's content there; a mount of the user's covers it instead
    const img = pushImage(uniqueRepo("vol"), [new TarWriter().dir("vol").file("vol/marker", "from the image\n").end()], { config: { config: { Cmd: ["/nothing"], Volumes: { "/vol": {} } } } });
    await b.ok(["pull", "-q", "--tls-verify=false", img.ref]);
    await b.ok(["create", "--name", "iv", img.ref]);
    const mounts = JSON.parse(await b.ok(["inspect", "iv"]))[0].Mounts;
    expect(mounts.map((x: any) => [x.Type, x.Destination])).toEqual([["volume", "/vol"]]);
    expect((await b.run(["start", "iv"])).code).not.toBe(0); // (nothing to run in it: the setup, copy-up included, is done first)
    expect(readFileSync(join(mounts[0].Source, "marker"), "utf8")).toBe("from the image\n");
    await b.ok(["rm", "-v", "iv"]);
    expect(existsSync(mounts[0].Source)).toBe(false);
    await b.ok(["create", "--name", "iv2", "-v", "mine:/vol", img.ref]);
    expect(JSON.parse(await b.ok(["inspect", "iv2"]))[0].Mounts.map((x: any) => x.Name)).toEqual(["mine"]);
    expect(await anon()).toEqual([]);
  });

  test("--mount type=bind|volume|tmpfs: Docker's keys, readonly; bad ones refused", async () => {
    const dir = tempDir("tspod-mount-");
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "f"), "bound\n");
    expect(await b.ok(["run", "--rm", "--mount", `type=bind,source=${dir},target=/b,readonly`, BB, "sh", "-c", "cat /b/f; touch /b/g 2>/dev/null || echo ro"])).toBe("bound\nro\n");
    expect(await b.ok(["run", "--rm", "--mount", "type=volume,src=mv,dst=/m", BB, "sh", "-c", "echo in > /m/x"])).toBe("");
    expect(await b.ok(["run", "--rm", "--mount", "type=volume,src=mv,dst=/m,ro=true", BB, "sh", "-c", "cat /m/x; touch /m/y 2>/dev/null || echo ro"])).toBe("in\nro\n");
    const t = (await b.ok(["run", "--rm", "--mount", "type=tmpfs,destination=/t,tmpfs-size=1m", BB, "sh", "-c", "grep ' /t ' /proc/mounts"])).split(" ");
    expect([t[2], t[3].split(",").some((o) => o === "size=1024k")]).toEqual(["tmpfs", true]);
    // a quoted field may hold a comma; a later alias wins; rw is not read-only
    const comma = join(dir, "a,b");
    mkdirSync(comma);
    chmodSync(comma, 0o755);
    writeFileSync(join(comma, "f"), "comma\n");
    expect(await b.ok(["run", "--rm", "--mount", `type=bind,"src=${comma}",dst=/x,target=/y,rw`, BB, "sh", "-c", "cat /y/f; test -e /x || echo no-x"])).toBe("comma\nno-x\n");
    for (const [spec, re] of [
      ["dst=/x", /type= is required/],
      ["Type=bind,src=/tmp,dst=/x", /type= is required/],
      ["type=bind,src=/tmp,dst=/x,Colour=red", /unknown option Colour for type bind/],
      ["type=volume,src=/tmp,dst=/x", /a volume's source is its name/],
      ["type=bind,src=/tmp,dst=/x,readonly,ro=false", /cannot pass 'readonly', 'ro', or 'rw' options more than once/],
      ["type=bind,src=/tmp,dst=x", /invalid --mount "type=bind,src=\/tmp,dst=x": container path x must be absolute/],
      ["type=volume,src=mv", /a destination .* is required/],
      ["type=nfs,dst=/x", /type nfs: bind, volume or tmpfs/],
      ["type=bind,dst=/x", /a bind mount needs a source/],
      ["type=volume,dst=/x,colour=red", /unknown option colour/],
      ["type=bind,src=/nonexistent-xyz,dst=/x", /no such file or directory/],
    ] as const) {
      expectOneError(await b.run(["run", "--rm", "--mount", spec, BB, "true"]), re);
    }
    expect(await b.ok(["ps", "-aq"])).toBe("");
  });

  test("nested and read-only mounts together, as crun makes them: mount points first, read-only last; --read-only keeps a volume on /tmp", async () => {
    const dir = tempDir("tspod-app-");
    chownSync(dir, b.uid, b.gid);
    chmodSync(dir, 0o755);
    // a read-only source with a writable anonymous volume inside it (node_modules' pattern)
    expect(await b.ok(["run", "--rm", "-v", `${dir}:/app:ro`, "-v", "/app/node_modules", BB, "sh", "-c", "touch /app/node_modules/x && echo nm; touch /app/y 2>/dev/null || echo app-ro"])).toBe("nm\napp-ro\n");
    expect(await b.ok(["run", "--rm", "-v", `${dir}:/x:ro`, "--tmpfs", "/x/t", BB, "sh", "-c", "touch /x/t/a && echo t"])).toBe("t\n");
    // a read-only volume on /etc: tspod's own hostname, hosts and resolv.conf still go in
    expect(await b.ok(["run", "--rm", "--hostname", "h2", "-v", "roetc:/etc:ro", BB, "sh", "-c", "cat /etc/hostname; touch /etc/z 2>/dev/null || echo etc-ro"])).toBe("h2\netc-ro\n");
    expect(await b.ok(["run", "--rm", "--tmpfs", "/t:ro", BB, "sh", "-c", "touch /t/a 2>/dev/null || echo t-ro"])).toBe("t-ro\n");
    // --read-only: a volume the user mounts on /tmp (written /tmp/) is not hidden under the tmpfs
    await b.ok(["run", "--rm", "--read-only", "-v", "keep:/tmp/", BB, "sh", "-c", "echo data > /tmp/f"]);
    expect(await b.ok(["run", "--rm", "-v", "keep:/x", BB, "cat", "/x/f"])).toBe("data\n");
    // a user's file on /etc/hosts is the only one there (tspod's own is left out)
    writeFileSync(join(dir, "hosts"), "10.1.2.3 mine\n");
    expect(await b.ok(["run", "--rm", "-v", `${join(dir, "hosts")}:/etc/hosts:ro`, BB, "sh", "-c", "cat /etc/hosts; grep -c ' /etc/hosts ' /proc/self/mountinfo"])).toBe("10.1.2.3 mine\n1\n");
    // over /dev: refused (the container's devices are made there)
    expectOneError(await b.run(["run", "--rm", "-v", "devs:/dev", BB, "true"]), /cannot mount over \/dev/);
    expect(lines(await b.ok(["volume", "ls", "-q"])).includes("devs")).toBe(false);
  });

  test("what a failed create made goes; --rm's volumes go only at its end; an anonymous volume goes with the last container's rm -v", async () => {
    const anon = async () => lines(await b.ok(["volume", "ls", "-q"])).filter((n) => /^[0-9a-f]{64}$/.test(n));
    expectOneError(await b.run(["create", "-v", "/anon", "--label", "=x", BB, "true"]), /invalid label "=x"/);
    expectOneError(await b.run(["create", "-v", "/anon", "--name", "bad/name", BB, "true"]), /name/);
    expect(await anon()).toEqual([]);
    // create --rm, then plain rm: kept (as Podman); run --rm: gone
    await b.ok(["create", "--rm", "--name", "cr", "-v", "/anon", BB, "true"]);
    await b.ok(["rm", "cr"]);
    expect((await anon()).length).toBe(1);
    await b.ok(["volume", "prune", "-f"]);
    // made by a1, used by b1 too: a1's rm -v leaves it (in use), b1's takes it
    await b.ok(["create", "--name", "a1", "-v", "/anon", BB, "true"]);
    const [v] = await anon();
    await b.ok(["create", "--name", "b1", "-v", `${v}:/x`, BB, "true"]);
    await b.ok(["rm", "-v", "a1"]);
    expect(await anon()).toEqual([v]);
    await b.ok(["rm", "-v", "b1"]);
    expect(await anon()).toEqual([]);
  });

  test("a volume's first use where the image has nothing leaves its copy-up for a later use", async () => {
    await b.ok(["run", "--rm", "-v", "later:/nothing-here", BB, "true"]);
    expect(JSON.parse(await b.ok(["volume", "inspect", "later"]))[0].NeedsCopyUp).toBe(true);
    expect(lines(await b.ok(["run", "--rm", "-v", "later:/home/www", BB, "ls", "/home/www"]))).toEqual(["index.html"]);
    expect(JSON.parse(await b.ok(["volume", "inspect", "later"]))[0].NeedsCopyUp).toBe(false);
  });

  test("a volume holding files of other ids (rootless: subordinate ones) is removed whole", async () => {
    await b.ok(["run", "--rm", "-v", "mixed:/m", BB, "sh", "-c", "mkdir -p /m/a/b && echo x > /m/a/b/f && chown -R 1234:1234 /m/a && chmod 700 /m/a"]);
    expect(await b.ok(["volume", "rm", "mixed"])).toBe("mixed\n");
    expect(existsSync(join(b.root, "volumes/mixed"))).toBe(false);
  });
});
