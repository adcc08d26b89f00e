// The "vfs" storage driver's copier (`tspod-rt copy-layers`, native/copylayers.c):
// layer dirs in the overlay format (whiteout = char device 0:0, opaque dir =
// *.overlay.opaque=y) are merged into DEST as overlay would show them, with
// owners, modes, times, xattrs, hard links and symlinks kept, and nothing
// written outside DEST. Root and rootless (as the test user, through a
// subordinate-id map). Layers are built by hand, as root.
// Build first: `bun run build --native` (or point TSPOD_RT at another build).
import { afterAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  copyFileSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";

const TOP = resolve(import.meta.dir, "../..");
const RT = process.env.TSPOD_RT ?? join(TOP, "native/out/tspod-rt");
const isRoot = process.getuid?.() === 0;
const tmp = mkdtempSync("/tmp/tspod-copylayers-test-");
chmodSync(tmp, 0o755); // the rootless part runs as the test user
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function run(argv: string[]): Out {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

function must(argv: string[]): void {
  const r = run(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: exit ${r.code}: ${r.stderr}`);
}

const haveSetfattr = !!Bun.which("setfattr");

function setx(path: string, name: string, value: string): void {
  if (haveSetfattr) must(["setfattr", "-h", "-n", name, "-v", value, path]);
  else must(["python3", "-c", "import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)", path, name, value]);
}

/** The xattr's value, or null when the file has none by that name. */
function getx(path: string, name: string): string | null {
  const r = run([
    "python3",
    "-c",
    "import os,sys\ntry: sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())\nexcept OSError: sys.exit(3)",
    path,
    name,
  ]);
  return r.code === 0 ? r.stdout : null;
}

function file(path: string, content: string, mode = 0o644, uid = 0, gid = 0): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, content);
  chownSync(path, uid, gid);
  chmodSync(path, mode); // after chown, which drops setuid
}

function dir(path: string, mode = 0o755, uid = 0, gid = 0): void {
  mkdirSync(path, { recursive: true });
  chownSync(path, uid, gid);
  chmodSync(path, mode);
}

const whiteout = (path: string) => must(["mknod", path, "c", "0", "0"]);
function opaque(path: string, trusted: boolean): void {
  setx(path, "user.overlay.opaque", "y");
  if (trusted) setx(path, "trusted.overlay.opaque", "y");
}

const T2001 = new Date("2001-02-03T04:05:06Z");
const T2002 = new Date("2002-03-04T05:06:07Z");
const T2003 = new Date("2003-04-05T06:07:08Z");
const secs = (d: Date) => Math.floor(d.getTime() / 1000);
const mtime = (p: string) => Math.floor(lstatSync(p).mtimeMs / 1000);

function copy(dest: string, layers: string[], maps: string[] = [], as: string[] = [], rt = RT): Out & { res?: any } {
  const r = run([...as, rt, "copy-layers", ...maps, dest, ...layers]);
  let res: any;
  if (r.code === 0) res = JSON.parse(r.stdout);
  return { ...r, res };
}

describe.skipIf(!isRoot)("copy-layers as root", () => {
  const root = join(tmp, "root");
  const l1 = join(root, "l1"),
    l2 = join(root, "l2"),
    l3 = join(root, "l3");
  const outside = join(root, "outside");
  const dest = join(root, "dest");
  let res: Out & { res?: any };

  test("merges three layers", () => {
    dir(outside);
    writeFileSync(join(outside, "sentinel"), "s");
    // base layer
    file(join(l1, "data/keep"), "keep");
    setx(join(l1, "data/keep"), "user.test", "hello");
    file(join(l1, "data/gone"), "gone");
    file(join(l1, "opq/old1"), "old1");
    file(join(l1, "opq/sub/deep"), "deep");
    file(join(l1, "usr/bin/su"), "su-binary", 0o4755);
    file(join(l1, "usr/bin/wall"), "wall", 0o2755, 0, 5);
    dir(join(l1, "tmp"), 0o1777);
    file(join(l1, "bin/busybox"), "bb".repeat(1000), 0o755);
    linkSync(join(l1, "bin/busybox"), join(l1, "bin/sh"));
    symlinkSync("/usr/bin/true", join(l1, "bin/alt"));
    symlinkSync("usr/lib", join(l1, "lib"));
    dir(join(l1, "www"), 0o750, 33, 33);
    file(join(l1, "www/index.html"), "<html>", 0o640, 33, 33);
    utimesSync(join(l1, "www/index.html"), T2001, T2001);
    utimesSync(join(l1, "www"), T2002, T2002);
    must(["chown", "-h", "33:33", join(l1, "lib")]);
    file(join(l1, "etc/conf"), "old");
    symlinkSync(outside, join(l1, "escape")); // an upper dir replaces it
    symlinkSync(outside, join(l1, "escape2")); // an upper file replaces it
    file(join(l1, "olddir/sub/file"), "x");
    file(join(l1, "d2/x"), "x");
    file(join(l1, "swap/inner/file"), "x"); // an upper symlink replaces the whole dir
    dir(join(l1, "run"));
    must(["mkfifo", join(l1, "run/fifo")]);
    dir(join(l1, "dev"));
    must(["mknod", join(l1, "dev/null"), "c", "1", "3"]);
    dir(join(l1, "var"));
    must(["truncate", "-s", "8M", join(l1, "var/sparse")]);
    writeFileSync(join(l1, "var/sparse"), "head", { flag: "r+" });
    file(join(l1, "empty"), "");
    // upper layer
    dir(join(l2, "data"));
    whiteout(join(l2, "data/gone"));
    dir(join(l2, "opq"), 0o711);
    opaque(join(l2, "opq"), true);
    file(join(l2, "opq/new"), "new");
    file(join(l2, "etc/conf"), "new");
    file(join(l2, "escape/pwned"), "pwned");
    file(join(l2, "escape2"), "pwned2");
    whiteout(join(l2, "olddir"));
    file(join(l2, "d2"), "file now");
    symlinkSync("/etc", join(l2, "swap"));
    file(join(l2, "bin/x"), "x-y");
    linkSync(join(l2, "bin/x"), join(l2, "bin/y"));
    utimesSync(join(l2, "data"), T2003, T2003);
    // a third layer brings a deleted file back
    file(join(l3, "data/gone"), "back");
    utimesSync(join(l3, "data"), T2002, T2002);
    dir(dest);

    res = copy(dest, [l1, l2, l3]);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.res.skipped).toBe(0);
    expect(res.res.files).toBeGreaterThan(30);
    expect(res.res.bytes).toBeGreaterThan(2000);
  });

  test("whiteouts and opaque dirs are honoured", () => {
    expect(readFileSync(join(dest, "data/keep"), "utf8")).toBe("keep");
    expect(readFileSync(join(dest, "data/gone"), "utf8")).toBe("back"); // deleted in l2, back in l3
    expect(readdirSync(join(dest, "opq"))).toEqual(["new"]);
    expect(existsSync(join(dest, "olddir"))).toBe(false);
    expect(lstatSync(join(dest, "d2")).isFile()).toBe(true);
    expect(readFileSync(join(dest, "d2"), "utf8")).toBe("file now");
    expect(readlinkSync(join(dest, "swap"))).toBe("/etc");
    expect(readFileSync(join(dest, "etc/conf"), "utf8")).toBe("new");
    // the merged dir is a plain directory now: overlay's markers are not copied
    expect(getx(join(dest, "opq"), "user.overlay.opaque")).toBeNull();
    expect(getx(join(dest, "opq"), "trusted.overlay.opaque")).toBeNull();
    expect(statSync(join(dest, "opq")).mode & 0o7777).toBe(0o711);
    // no whiteout device is left anywhere
    const out = run(["find", dest, "-type", "c", "-printf", "%p %Hr %Lr\n"]).stdout;
    expect(out).not.toContain(" 0 0");
  });

  test("owners, modes, times, xattrs, links and nodes are kept", () => {
    const su = statSync(join(dest, "usr/bin/su"));
    expect([su.uid, su.gid, su.mode & 0o7777]).toEqual([0, 0, 0o4755]);
    const wall = statSync(join(dest, "usr/bin/wall"));
    expect([wall.gid, wall.mode & 0o7777]).toEqual([5, 0o2755]);
    expect(statSync(join(dest, "tmp")).mode & 0o7777).toBe(0o1777);
    const idx = statSync(join(dest, "www/index.html"));
    expect([idx.uid, idx.gid, idx.mode & 0o7777]).toEqual([33, 33, 0o640]);
    expect(mtime(join(dest, "www/index.html"))).toBe(secs(T2001));
    const www = statSync(join(dest, "www"));
    expect([www.uid, www.gid, www.mode & 0o7777]).toEqual([33, 33, 0o750]);
    expect(mtime(join(dest, "www"))).toBe(secs(T2002));
    // a dir in several layers takes the top-most one's times, set after its content
    expect(mtime(join(dest, "data"))).toBe(secs(T2002));
    expect(getx(join(dest, "data/keep"), "user.test")).toBe("hello");
    const bb = statSync(join(dest, "bin/busybox")),
      sh = statSync(join(dest, "bin/sh"));
    expect(sh.ino).toBe(bb.ino);
    expect(bb.nlink).toBe(2);
    expect(statSync(join(dest, "bin/x")).ino).toBe(statSync(join(dest, "bin/y")).ino);
    expect(readlinkSync(join(dest, "bin/alt"))).toBe("/usr/bin/true");
    expect(readlinkSync(join(dest, "lib"))).toBe("usr/lib");
    expect(lstatSync(join(dest, "lib")).uid).toBe(33);
    expect(lstatSync(join(dest, "run/fifo")).isFIFO()).toBe(true);
    const nul = lstatSync(join(dest, "dev/null"));
    expect(nul.isCharacterDevice()).toBe(true);
    expect(nul.rdev).toBe(lstatSync("/dev/null").rdev);
    const sp = statSync(join(dest, "var/sparse"));
    expect(sp.size).toBe(8 << 20);
    expect(sp.blocks * 512).toBeLessThan(1 << 20);
    expect(readFileSync(join(dest, "var/sparse")).subarray(0, 5).toString()).toBe("head\0");
    expect(statSync(join(dest, "empty")).size).toBe(0);
  });

  test("nothing is written outside DEST", () => {
    expect(lstatSync(join(dest, "escape")).isDirectory()).toBe(true);
    expect(readFileSync(join(dest, "escape/pwned"), "utf8")).toBe("pwned");
    expect(lstatSync(join(dest, "escape2")).isFile()).toBe(true);
    expect(readdirSync(outside)).toEqual(["sentinel"]);
    // the layers are left as they were
    expect(lstatSync(join(l1, "escape")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(l1, "data/gone"), "utf8")).toBe("gone");
    expect(lstatSync(join(l2, "data/gone")).isCharacterDevice()).toBe(true);
  });

  test("a lower layer alone gives the lower view", () => {
    const d = join(root, "dest-l1");
    dir(d);
    const r = copy(d, [l1]);
    expect(r.code).toBe(0);
    expect(readdirSync(join(d, "opq")).sort()).toEqual(["old1", "sub"]);
    expect(lstatSync(join(d, "escape")).isSymbolicLink()).toBe(true);
    expect(readFileSync(join(d, "data/gone"), "utf8")).toBe("gone");
  });

  test("errors: one line naming the path, exit 1; usage: 125", () => {
    const d = join(root, "dest-err");
    dir(d);
    const r = copy(d, [l1, join(root, "nope")]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe(`tspod-rt: copy-layers: ${join(root, "nope")}: open layer: No such file or directory\n`);
    const r2 = copy(join(root, "no-dest"), [l1]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toBe(`tspod-rt: copy-layers: ${join(root, "no-dest")}: open: No such file or directory\n`);
    const u = run([RT, "copy-layers"]);
    expect(u.code).toBe(125);
    expect(u.stderr).toContain("usage: tspod-rt copy-layers");
    const u2 = run([RT, "copy-layers", "--uidmap", "0:1:1", d, l1]);
    expect(u2.code).toBe(125);
  });
});

const TESTUSER = "tspodtest";
const uidOf = (flag: string) => {
  const r = run(["id", flag, TESTUSER]);
  return r.code === 0 ? Number(r.stdout.trim()) : -1;
};
const UID = uidOf("-u"),
  GID = uidOf("-g");
const SUB = 200000; // /etc/subuid and /etc/subgid: tspodtest:200000:65536
const haveRootless = isRoot && UID > 0 && !!Bun.which("setpriv") && !!Bun.which("newuidmap");

describe.skipIf(!haveRootless)("copy-layers rootless (subordinate-id map)", () => {
  const root = join(tmp, "rootless");
  const l1 = join(root, "l1"),
    l2 = join(root, "l2");
  const outside = join(root, "outside");
  const dest = join(root, "dest");
  const www = SUB + 32; // uid 33 in the container
  let res: Out & { res?: any };

  test("copies inside the user namespace and keeps host owners", () => {
    dir(root, 0o755, UID, GID);
    dir(outside, 0o755, UID, GID);
    writeFileSync(join(outside, "sentinel"), "s");
    chownSync(join(outside, "sentinel"), UID, GID);
    dir(l1, 0o755, UID, GID);
    dir(join(l1, "data"), 0o755, UID, GID);
    file(join(l1, "data/keep"), "keep", 0o644, UID, GID);
    file(join(l1, "data/gone"), "gone", 0o644, UID, GID);
    dir(join(l1, "opq"), 0o755, UID, GID);
    file(join(l1, "opq/old1"), "old1", 0o644, UID, GID);
    dir(join(l1, "www"), 0o700, www, www); // only "uid 33" (or the namespace's root) may enter
    file(join(l1, "www/index.html"), "<html>", 0o600, www, www);
    dir(join(l1, "bin"), 0o755, UID, GID);
    file(join(l1, "bin/ping"), "ping", 0o4750, UID, www);
    file(join(l1, "bin/busybox"), "bb", 0o755, UID, GID);
    linkSync(join(l1, "bin/busybox"), join(l1, "bin/sh"));
    symlinkSync("/bin/busybox", join(l1, "bin/ls"));
    must(["chown", "-h", `${UID}:${GID}`, join(l1, "bin/ls")]);
    symlinkSync(outside, join(l1, "escape"));
    must(["chown", "-h", `${UID}:${GID}`, join(l1, "escape")]);
    dir(join(l1, "dev"), 0o755, UID, GID);
    must(["mknod", join(l1, "dev/null"), "c", "1", "3"]); // cannot be made in a user namespace: skipped
    chownSync(join(l1, "dev/null"), UID, GID);
    utimesSync(join(l1, "www/index.html"), T2001, T2001);
    dir(l2, 0o755, UID, GID);
    dir(join(l2, "data"), 0o755, UID, GID);
    whiteout(join(l2, "data/gone"));
    chownSync(join(l2, "data/gone"), UID, GID);
    dir(join(l2, "opq"), 0o755, UID, GID);
    opaque(join(l2, "opq"), false); // what unpack writes in a user namespace
    file(join(l2, "opq/new"), "new", 0o644, www, www);
    dir(join(l2, "escape"), 0o755, UID, GID);
    file(join(l2, "escape/pwned"), "pwned", 0o644, UID, GID);
    dir(dest, 0o755, UID, GID);
    // the binary where the test user may run it
    const rt = join(root, "tspod-rt");
    copyFileSync(RT, rt);
    chmodSync(rt, 0o755);

    const as = ["setpriv", `--reuid=${TESTUSER}`, `--regid=${TESTUSER}`, "--init-groups"];
    const maps = ["--uidmap", `0:${UID}:1,1:${SUB}:65536`, "--gidmap", `0:${GID}:1,1:${SUB}:65536`];
    res = copy(dest, [l1, l2], maps, as, rt);
    expect(res.stderr).toBe("");
    expect(res.code).toBe(0);
    expect(res.res.skipped).toBe(1); // dev/null
    expect(existsSync(join(dest, "dev/null"))).toBe(false);
  });

  test("the merged tree has the layers' host owners", () => {
    const own = (p: string) => {
      const s = lstatSync(join(dest, p));
      return [s.uid, s.gid, s.mode & 0o7777];
    };
    expect(own(".")).toEqual([UID, GID, 0o755]);
    expect(own("data/keep")).toEqual([UID, GID, 0o644]);
    expect(own("www")).toEqual([www, www, 0o700]);
    expect(own("www/index.html")).toEqual([www, www, 0o600]);
    expect(mtime(join(dest, "www/index.html"))).toBe(secs(T2001));
    expect(own("bin/ping")).toEqual([UID, www, 0o4750]);
    expect(own("opq/new")).toEqual([www, www, 0o644]);
    expect(lstatSync(join(dest, "bin/ls")).uid).toBe(UID);
    expect(readlinkSync(join(dest, "bin/ls"))).toBe("/bin/busybox");
    expect(statSync(join(dest, "bin/sh")).ino).toBe(statSync(join(dest, "bin/busybox")).ino);
  });

  test("whiteouts, opaque dirs and confinement", () => {
    expect(existsSync(join(dest, "data/gone"))).toBe(false);
    expect(readdirSync(join(dest, "opq"))).toEqual(["new"]);
    expect(getx(join(dest, "opq"), "user.overlay.opaque")).toBeNull();
    expect(lstatSync(join(dest, "escape")).isDirectory()).toBe(true);
    expect(readdirSync(outside)).toEqual(["sentinel"]);
  });
});
