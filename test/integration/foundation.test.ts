// Foundation: the compiled binary alone, help/version, tspod info telling the
// truth as root and as the test user (each probe checked by breaking it).
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { binary, ENV, MODES, sandboxes, tempDir } from "../helpers/tspod.ts";
import pjson from "../../package.json" with { type: "json" };

const box = sandboxes();

function sh(cmd: string): { code: number; out: string } {
  const r = Bun.spawnSync(["sh", "-c", cmd], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

describe("binary", () => {
  test("runs alone from an empty directory: --version, version, help", async () => {
    const bin = binary();
    const dir = join(bin, "..");
    expect(require("node:fs").readdirSync(dir)).toEqual(["tspod"]);
    const b = box("rootless");
    expect((await b.ok(["--version"])).trim()).toBe(`tspod version ${pjson.version}`);
    expect(await b.ok(["version", "--format", "{{.Version}}"])).toBe(`${pjson.version}\n`);
    expect(await b.ok(["version", "--format", "{{.Client.Version}} {{.Client.OsArch}}"])).toBe(`${pjson.version} linux/amd64\n`);
    expect(JSON.parse(await b.ok(["version", "--format", "json"])).Client.Version).toBe(pjson.version);
    const help = await b.ok(["--help"]);
    for (const c of ["info", "version"]) expect(help).toMatch(new RegExp(`^\\s+${c}\\s`, "m"));
    expect(await b.ok(["help", "info"])).toContain("--format");
    expect(await b.ok(["info", "--help"])).toContain("GLOBAL FLAGS");
  });

  test("bad input: one line on stderr and exit 125", async () => {
    const b = box("rootless");
    for (const args of [["no-such-command"], ["info", "--no-such-flag"], ["--log-level", "loud", "info"]]) {
      const r = await b.run(args);
      expect(r.code).toBe(125);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toStartWith("Error: ");
      expect(r.stdout).toBe("");
    }
  });

  test("a directory's bunfig.toml and .env are not read: no code from them runs, no setting changes", async () => {
    const b = box("rootless");
    const proj = join(b.dir, "untrusted-project");
    require("node:fs").mkdirSync(proj, { recursive: true });
    const marker = join(proj, "preload-ran");
    writeFileSync(join(proj, "bunfig.toml"), 'preload = ["./evil.js"]\n');
    writeFileSync(join(proj, "evil.js"), `require("node:fs").writeFileSync(${JSON.stringify(marker)}, "ran")\n`);
    writeFileSync(join(proj, ".env"), "TSPOD_TRACE=1\n");
    chmodSync(proj, 0o777);
    for (const args of [["--version"], ["ps", "-a"], ["info", "--format", "{{.Store.GraphRoot}}"], ["images"]]) {
      const r = await b.run(args, { cwd: proj });
      expect(r.code).toBe(0);
      expect(r.stderr).not.toContain("[trace");
    }
    expect(existsSync(marker)).toBe(false);
  });

  test("oclif's parse errors come out as one line that says what is wrong; -h is --help where no -h exists", async () => {
    const b = box("rootless");
    for (const [args, want] of [
      [["logs"], "Error: Missing 1 required arg: container\n"],
      [["image", "inspect"], "Error: Missing 1 required arg: image (image name or ID)\n"],
      [["stop", "-t", "abc", "x"], "Error: Parsing --time: Expected an integer but received: abc\n"],
      [["container", "bogus"], "Error: command container bogus not found\n"],
    ] as const) {
      const r = await b.run([...args]);
      expect([args, r.code, r.stderr]).toEqual([args, 125, want]);
    }
    expect(await b.ok(["ps", "-h"])).toContain("USAGE");
    expect(await b.ok(["images", "-h"])).toContain("USAGE");
    // Go-style booleans on any boolean flag, as Podman takes them (oclif took the value for an argument)
    expect(await b.ok(["image", "list", "--noheading=false"])).toStartWith("REPOSITORY");
    expect(await b.ok(["image", "list", "-n=true"])).toBe("");
    expect(await b.ok(["pod", "ps", "--noheading=False"])).toStartWith("POD ID");
    const bad = await b.run(["image", "list", "--noheading=maybe"]);
    expect([bad.code, bad.stderr]).toEqual([125, 'Error: invalid argument "maybe" for "--noheading" flag: strconv.ParseBool: parsing "maybe": invalid syntax\n']);
  });

  test("global flags work before the command name", async () => {
    const b = box("rootless");
    const other = join(b.dir, "other-root");
    const out = await b.run(["--root", other, "info", "--format", "{{.Store.GraphRoot}}"], { noStoreFlags: true });
    expect(out.stdout.trim()).toBe(other);
    // an empty --root is the default store, as in Podman (it made a store in the working directory)
    const dflt = (await b.run(["info", "--format", "{{.Store.GraphRoot}}"], { noStoreFlags: true })).stdout;
    expect(dflt).toBe(`${b.home}/.local/share/tspod\n`);
    expect((await b.run(["--root", "", "info", "--format", "{{.Store.GraphRoot}}"], { noStoreFlags: true, cwd: b.dir })).stdout).toBe(dflt);
  });
});

describe.each(MODES)("info (%s)", (mode) => {
  test("ids, subordinate ranges, id map, namespaces and store match independent checks", async () => {
    const b = box(mode);
    const info = JSON.parse(await b.ok(["info", "--format", "json"]));
    const h = info.Host;
    expect(h.Uid).toBe(b.uid);
    expect(h.Gid).toBe(b.gid);
    expect(h.Rootless).toBe(mode === "rootless");
    if (mode === "rootless") {
      expect(h.User).toBe(ENV.TEST_USER);
      expect(h.IDMappings.UidRanges).toEqual([{ Start: Number(ENV.SUBID_START), Count: Number(ENV.SUBID_COUNT) }]);
      expect(h.IDMappings.GidRanges).toEqual([{ Start: Number(ENV.SUBID_START), Count: Number(ENV.SUBID_COUNT) }]);
      expect(h.IDMappings.FullMapWorks).toBe(true);
    }
    expect(h.IDMappings.Newuidmap.Path).toBe("/usr/bin/newuidmap");
    expect(h.Namespaces.User.ok).toBe(true);
    // Kernel overlay in a user namespace, checked with util-linux unshare as the same user.
    const t = await b.sh(`d=$(mktemp -d); mkdir $d/l $d/u $d/w $d/m; unshare -rm mount -t overlay overlay -o lowerdir=$d/l,upperdir=$d/u,workdir=$d/w,userxattr $d/m; r=$?; rm -rf $d; exit $r`);
    expect(info.Store.Drivers.Overlay.ok).toBe(t.code === 0);
    expect(info.Store.GraphRoot).toBe(b.root);
    expect(info.Store.RunRoot).toBe(b.runroot);
    // Podman's names for what scripts read, answering as tspod's own do
    const fmt = async (t: string, ...extra: string[]) => (await b.ok([...extra, "info", "--format", t])).trim();
    expect(await fmt("{{.Store.GraphDriverName}}")).toBe(info.Store.Driver);
    expect(await fmt("{{.Store.GraphDriverName}}", "--storage-driver", "vfs")).toBe("vfs");
    expect(await fmt("{{.Host.Security.Rootless}}")).toBe(String(mode === "rootless"));
    const counts = `${(await b.ok(["images", "-aq"])).split("\n").filter(Boolean).length} ${(await b.ok(["ps", "-aq"])).split("\n").filter(Boolean).length}`;
    expect(await fmt("{{.Store.ImageStore.Number}} {{.Store.ContainerStore.Number}}")).toBe(counts);
    // cgroups: usable exactly when this user can write its memory cgroup (v1) / own cgroup (v2).
    const cg = h.Cgroups;
    if (cg.Path) expect(cg.Usable).toBe((await b.sh(`test -w '${cg.Path}'`)).code === 0);
    const pasta = (await b.sh("command -v pasta")).stdout.trim();
    expect(h.Network.Pasta).toBe(pasta);
    expect(h.Network.Tun.ok).toBe((await b.sh("exec 3<>/dev/net/tun")).code === 0);
    expect(info.Store.Drivers.FuseOverlayfs.DevFuse.ok).toBe((await b.sh("exec 3<>/dev/fuse")).code === 0);
  });

  test("the embedded helper is materialised once, read-only, and re-executes sealed", async () => {
    const b = box(mode);
    const info = JSON.parse(await b.ok(["info", "--format", "json"]));
    const helper: string = info.Version.Helper;
    expect(helper.startsWith(join(b.runroot, "bin/tspod-rt-"))).toBe(true);
    const st = statSync(helper);
    expect(st.mode & 0o777).toBe(0o500);
    expect(st.uid).toBe(b.uid);
    expect(statSync(b.runroot).mode & 0o077).toBe(0);
    const before = st.mtimeMs;
    await b.ok(["info", "--format", "json"]);
    expect(statSync(helper).mtimeMs).toBe(before);
    const chk = await b.sh(`'${helper}' sealed-check`);
    const res = JSON.parse(chk.stdout);
    expect(res.sealed).toBe(true);
    expect(res.write_error).not.toBe("");
  });

  test("--format templates and --log-level", async () => {
    const b = box(mode);
    expect((await b.ok(["info", "--format", "{{.Host.Uid}} {{.Host.Rootless}}"])).trim()).toBe(`${b.uid} ${mode === "rootless"}`);
    const r = await b.run(["info", "--format", "{{.Host.NoSuchField}}"]);
    expect(r.code).toBe(125);
  });
});

describe("info reports what is broken", () => {
  test("no newuidmap on PATH: reported, and the full id map fails", async () => {
    const b = box("rootless");
    const bin = tempDir("tspod-path-");
    chmodSync(bin, 0o755);
    const info = JSON.parse(await b.ok(["info", "--format", "json"], { env: { PATH: bin } }));
    expect(info.Host.IDMappings.Newuidmap.Path).toBe("");
    expect(info.Host.IDMappings.FullMapWorks).toBe(false);
    expect(info.Host.Network.Pasta).toBe("");
    expect(info.Warnings.join("\n")).toContain("newuidmap");
  });

  test("a user without a subuid range is told so", async () => {
    const b = box("rootless");
    const saved = readFileSync("/etc/subuid", "utf8");
    try {
      writeFileSync("/etc/subuid", saved.split("\n").filter((l) => !l.startsWith(`${ENV.TEST_USER}:`)).join("\n"));
      const info = JSON.parse(await b.ok(["info", "--format", "json"]));
      expect(info.Host.IDMappings.UidRanges).toEqual([]);
      expect(info.Host.IDMappings.FullMapWorks).toBe(false);
      expect(info.Warnings.join("\n")).toContain("no /etc/subuid range");
      expect(await b.ok(["info"])).toContain("subuid ranges:   none");
    } finally {
      writeFileSync("/etc/subuid", saved);
    }
  });

  test("user namespaces disabled: reported", async () => {
    // The limit is per user namespace: inside `unshare -r` it can be set to 0
    // without touching the host (there tspod runs as that namespace's root).
    const b = box("rootless");
    const argv = b.tspodArgs(["info", "--format", "json"]);
    const i = argv.indexOf("env");
    const wrapped = [...argv.slice(0, i), "unshare", "-r", "sh", "-c", 'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh", ...argv.slice(i)];
    const p = Bun.spawnSync(wrapped, { stdout: "pipe", stderr: "pipe" });
    expect(p.stderr.toString()).toBe("");
    const info = JSON.parse(p.stdout.toString());
    expect(info.Host.Namespaces.User.ok).toBe(false);
    expect(info.Store.Drivers.Overlay.ok).toBe(false);
    expect(info.Warnings.join("\n")).toContain("user namespaces are not allowed");
  });

  test("/dev/fuse not accessible: reported", async () => {
    const b = box("rootless");
    const mode = statSync("/dev/fuse").mode & 0o777;
    try {
      chmodSync("/dev/fuse", 0o600);
      const info = JSON.parse(await b.ok(["info", "--format", "json"]));
      expect(info.Store.Drivers.FuseOverlayfs.DevFuse.ok).toBe(false);
    } finally {
      chmodSync("/dev/fuse", mode);
    }
  });

  test("XDG_RUNTIME_DIR unset: a private fallback runtime dir", async () => {
    const b = box("rootless");
    const info = JSON.parse(await b.ok(["--root", b.root, "info", "--format", "json"], { noStoreFlags: true, env: { XDG_RUNTIME_DIR: "" } }));
    expect(info.Store.RunRootFallback).toBe(true);
    expect([`/tmp/tspod-${b.uid}`, `/run/user/${b.uid}/tspod`]).toContain(info.Store.RunRoot);
    const st = statSync(info.Store.RunRoot);
    expect(st.uid).toBe(b.uid);
    expect(st.mode & 0o077).toBe(0);
    expect(existsSync(info.Version.Helper)).toBe(true);
  });
});
