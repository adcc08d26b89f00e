// `tspod-rt unpack` (native/unpack.c): applies one layer tar from stdin into a
// directory, confined to it, with owners, modes, times, xattrs, links and
// overlay whiteouts. Real binary, raw tars written byte by byte
// (test/helpers/tarwriter.ts) so malicious entries can be made.
// Build first: `bun run build --native` (or point TSPOD_RT at another build).
// Root cases run when the tests run as root; the rootless cases run the helper
// as the test user (tspodtest, with a /etc/subuid range) through setpriv.
import { afterAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  closeSync,
  openSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join, resolve } from "node:path";
import { TarWriter, concat, header } from "../helpers/tarwriter.ts";

const TOP = resolve(import.meta.dir, "../..");
const RT = process.env.TSPOD_RT ?? join(TOP, "native/out/tspod-rt");
if (!existsSync(RT)) throw new Error(`${RT} is missing: run \`bun run build --native\` first`);

const IS_ROOT = process.getuid?.() === 0;
const base = mkdtempSync("/tmp/tspod-unpack-test-");
chmodSync(base, 0o755); // the rootless cases run as another user
const outsides: string[] = [];
afterAll(() => {
  rmSync(base, { recursive: true, force: true });
  for (const o of outsides) rmSync(o, { recursive: true, force: true });
});

interface Counters {
  entries: number;
  bytes: number;
  squashed: number;
  skipped_devices: number;
  skipped_xattrs: number;
  skipped_other: number;
}
interface Res {
  code: number;
  stdout: string;
  stderr: string;
  json?: Counters;
}

let n = 0;
/** A fresh case directory holding only `dest`; returns [dest, caseDir]. */
function fresh(owner?: { uid: number; gid: number }): [string, string] {
  const c = join(base, `case-${++n}`);
  mkdirSync(join(c, "dest"), { recursive: true });
  chmodSync(c, 0o755);
  if (owner) chownSync(join(c, "dest"), owner.uid, owner.gid);
  return [join(c, "dest"), c];
}

/** A directory outside every DEST that nothing may touch. */
function outside(owner?: { uid: number; gid: number }): string {
  const o = mkdtempSync("/tmp/outside-");
  outsides.push(o);
  chmodSync(o, 0o777);
  if (owner) chownSync(o, owner.uid, owner.gid);
  return o;
}

function result(code: number, stdout: string, stderr: string): Res {
  const r: Res = { code, stdout, stderr };
  if (code === 0) r.json = JSON.parse(stdout);
  return r;
}

interface RunOpts {
  args?: string[];
  user?: { uid: number; gid: number };
}
function argv(dest: string, o: RunOpts): string[] {
  const cmd = [RT, "unpack", ...(o.args ?? []), dest];
  if (!o.user) return cmd;
  return ["setpriv", `--reuid=${o.user.uid}`, `--regid=${o.user.gid}`, "--clear-groups", ...cmd];
}

/** stdin from memory (Bun hands the child a memfd: a regular file). */
function unpack(dest: string, tar: Uint8Array, o: RunOpts = {}): Res {
  const p = Bun.spawnSync(argv(dest, o), { stdin: tar, stdout: "pipe", stderr: "pipe" });
  return result(p.exitCode ?? -1, p.stdout.toString(), p.stderr.toString());
}

/** stdin through a real pipe, written in uneven chunks. */
async function unpackPiped(dest: string, tar: Uint8Array, o: RunOpts = {}): Promise<Res> {
  const p = Bun.spawn(argv(dest, o), { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  for (let i = 0; i < tar.length; ) {
    const k = Math.min(tar.length - i, 70001);
    p.stdin.write(tar.subarray(i, i + k));
    await p.stdin.flush();
    i += k;
  }
  await p.stdin.end();
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return result(code, out, err);
}

function ok(r: Res): Counters {
  if (r.code !== 0) throw new Error(`unpack failed (${r.code}): ${r.stderr}`);
  expect(r.stderr).toBe("");
  return r.json!;
}

/** Exit 1 and exactly one `tspod-rt: unpack: ...` line on stderr. */
function refused(r: Res, what?: RegExp) {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  const lines = r.stderr.split("\n").filter((l) => l);
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(/^tspod-rt: unpack: /);
  if (what) expect(lines[0]).toMatch(what);
}

function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      out.push(r);
      if (e.isDirectory()) walk(join(d, e.name), r);
    }
  };
  walk(dir, "");
  return out.sort();
}

const PY = existsSync("/usr/bin/python3") ? "/usr/bin/python3" : Bun.which("python3");
/** An xattr of path (not following symlinks), or null. */
function getxattr(path: string, name: string): string | null {
  if (PY) {
    const r = Bun.spawnSync([
      PY,
      "-c",
      "import os,sys\ntry: sys.stdout.write(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).decode())\nexcept OSError: sys.exit(3)",
      path,
      name,
    ]);
    return r.exitCode === 0 ? r.stdout.toString() : null;
  }
  const r = Bun.spawnSync(["getfattr", "-h", "--only-values", "-n", name, path]);
  if (r.exitCode === 127 || (r.exitCode !== 0 && /not found/.test(r.stderr.toString())))
    throw new Error("need python3 or getfattr to read xattrs");
  return r.exitCode === 0 ? r.stdout.toString() : null;
}

function snapshot(p: string) {
  const st = statSync(p);
  return { data: readFileSync(p, "utf8"), ino: st.ino, nlink: st.nlink, mtimeMs: st.mtimeMs };
}

// ---------------------------------------------------------------------------

describe("tar formats", () => {
  test("ustar files, dirs, counters", () => {
    const [d] = fresh();
    const tar = new TarWriter()
      .dir("./")
      .dir("etc/")
      .file("etc/hostname", "box\n")
      .file("usr/bin/tool", "#!/bin/sh\n", { mode: 0o755 }) // parents missing: created
      .file("empty")
      .end();
    const j = ok(unpack(d, tar));
    expect(j).toEqual({ entries: 5, bytes: 14, squashed: 0, skipped_devices: 0, skipped_xattrs: 0, skipped_other: 0 });
    expect(readFileSync(join(d, "etc/hostname"), "utf8")).toBe("box\n");
    expect(statSync(join(d, "usr/bin/tool")).mode & 0o7777).toBe(0o755);
    expect(statSync(join(d, "etc/hostname")).mode & 0o7777).toBe(0o644);
    expect(statSync(join(d, "empty")).size).toBe(0);
    expect(tree(d)).toEqual(["empty", "etc", "etc/hostname", "usr", "usr/bin", "usr/bin/tool"]);
  });

  test("pax path, linkpath, size, fractional mtime and xattrs; global header", () => {
    const [d] = fresh();
    const longTarget = "/opt/" + "t".repeat(150);
    const tar = new TarWriter()
      .pax({ mtime: "1600000000" }, true) // global: every later entry
      .pax({ path: "pax/override/name.txt", mtime: "1234567890.123456789", "SCHILY.xattr.user.tspod": "yes" })
      .file("short-name", "pax data")
      .pax({ linkpath: longTarget })
      .symlink("pax/longlink", "ignored")
      .file("plain", "p")
      .pax({ size: "5" })
      .entry({ name: "sized", data: "12345", size: 0 })
      .end();
    ok(unpack(d, tar));
    expect(existsSync(join(d, "short-name"))).toBe(false);
    const f = join(d, "pax/override/name.txt");
    expect(readFileSync(f, "utf8")).toBe("pax data");
    const st = lstatSync(f, { bigint: true });
    expect(st.mtimeNs).toBe(1234567890123456789n);
    expect(getxattr(f, "user.tspod")).toBe("yes");
    expect(readlinkSync(join(d, "pax/longlink"))).toBe(longTarget);
    expect(statSync(join(d, "plain")).mtimeMs).toBe(1600000000 * 1000);
    expect(readFileSync(join(d, "sized"), "utf8")).toBe("12345");
  });

  test("GNU long name and long link, ustar prefix, v7 directory, base-256 numbers", () => {
    const [d] = fresh();
    const longDir = "a".repeat(60) + "/" + "b".repeat(60);
    const longName = `${longDir}/${"c".repeat(90)}.txt`;
    expect(longName.length).toBeGreaterThan(100);
    const tar = new TarWriter()
      .gnuLong("L", longName)
      .file("ignored-short", "long", { format: "gnu" })
      .gnuLong("L", "gnu/link-" + "l".repeat(120))
      .gnuLong("K", "/target/" + "k".repeat(120))
      .symlink("x", "y", { format: "gnu" })
      .file("in-prefix.txt", "prefixed", { prefix: "pre/fix" })
      .entry({ name: "v7dir/", type: "0", format: "v7" })
      .file("b256", "big", { base256: true, mtime: 1700000001 })
      .end();
    const j = ok(unpack(d, tar));
    expect(j.entries).toBe(5);
    expect(readFileSync(join(d, longName), "utf8")).toBe("long");
    expect(readlinkSync(join(d, "gnu/link-" + "l".repeat(120)))).toBe("/target/" + "k".repeat(120));
    expect(readFileSync(join(d, "pre/fix/in-prefix.txt"), "utf8")).toBe("prefixed");
    expect(statSync(join(d, "v7dir")).isDirectory()).toBe(true);
    expect(readFileSync(join(d, "b256"), "utf8")).toBe("big");
    expect(statSync(join(d, "b256")).mtimeMs).toBe(1700000001000);
  });

  test("big files through a pipe (splice) and from a file (copy_file_range) come out byte-exact", async () => {
    const big = new Uint8Array(3 * 1024 * 1024 + 777);
    for (let i = 0; i < big.length; i++) big[i] = (i * 2654435761) >>> 24;
    const tar = new TarWriter().file("small", "s").file("big", big).file("after", "a").end();
    const want = new Bun.CryptoHasher("sha256").update(big).digest("hex");
    for (const piped of [true, false]) {
      const [d] = fresh();
      const j = ok(piped ? await unpackPiped(d, tar) : unpack(d, tar));
      expect(j.bytes).toBe(big.length + 2);
      expect(new Bun.CryptoHasher("sha256").update(readFileSync(join(d, "big"))).digest("hex")).toBe(want);
      expect(readFileSync(join(d, "after"), "utf8")).toBe("a");
    }
    // and from a real file on disk
    const f = join(base, "big.tar");
    writeFileSync(f, tar);
    const [d] = fresh();
    const p = Bun.spawnSync([RT, "unpack", d], { stdin: Bun.file(f), stdout: "pipe", stderr: "pipe" });
    expect(p.exitCode).toBe(0);
    expect(new Bun.CryptoHasher("sha256").update(readFileSync(join(d, "big"))).digest("hex")).toBe(want);
  });

  test("hard links share the inode; '.' entries and unknown types are skipped", () => {
    const [d] = fresh();
    const tar = new TarWriter()
      .dir(".")
      .file("./f", "data")
      .hardlink("g", "f")
      .hardlink("sub/h", "/f")
      .symlink("sl", "/f")
      .hardlink("sl2", "sl") // a hard link to the symlink itself, not its target
      .entry({ name: "weird", type: "Z", data: "zzzz" })
      .entry({ name: "a/..", type: "5" })
      .file("last", "ok")
      .end();
    const j = ok(unpack(d, tar));
    expect(j.skipped_other).toBe(2);
    const ino = statSync(join(d, "f")).ino;
    expect(statSync(join(d, "g")).ino).toBe(ino);
    expect(statSync(join(d, "sub/h")).ino).toBe(ino);
    expect(statSync(join(d, "f")).nlink).toBe(3);
    expect(lstatSync(join(d, "sl2")).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(d, "sl2")).ino).toBe(lstatSync(join(d, "sl")).ino);
    expect(existsSync(join(d, "weird"))).toBe(false);
    expect(readFileSync(join(d, "last"), "utf8")).toBe("ok");
  });

  test("later entries replace earlier ones", () => {
    const [d] = fresh();
    const tar = new TarWriter()
      .file("f2d", "file")
      .dir("f2d", { mode: 0o700 })
      .dir("d2d", { mode: 0o755 })
      .file("d2d/keep", "k")
      .dir("d2d", { mode: 0o750, mtime: 1500000000 })
      .file("f2l", "file")
      .symlink("f2l", "target")
      .symlink("l2f", "/etc/passwd")
      .file("l2f", "now a file")
      .dir("empty-dir")
      .file("empty-dir", "replaced")
      .file("twice", "one")
      .file("twice", "two")
      .end();
    ok(unpack(d, tar));
    expect(statSync(join(d, "f2d")).isDirectory()).toBe(true);
    expect(statSync(join(d, "f2d")).mode & 0o777).toBe(0o700);
    expect(statSync(join(d, "d2d")).mode & 0o777).toBe(0o750);
    expect(statSync(join(d, "d2d")).mtimeMs).toBe(1500000000 * 1000);
    expect(readFileSync(join(d, "d2d/keep"), "utf8")).toBe("k");
    expect(readlinkSync(join(d, "f2l"))).toBe("target");
    expect(lstatSync(join(d, "l2f")).isFile()).toBe(true);
    expect(readFileSync(join(d, "l2f"), "utf8")).toBe("now a file");
    expect(readFileSync(join(d, "empty-dir"), "utf8")).toBe("replaced");
    expect(readFileSync(join(d, "twice"), "utf8")).toBe("two");
  });
});

describe("confinement: nothing is written outside DEST", () => {
  test("`..` and absolute names land inside", () => {
    const [d, c] = fresh();
    const out = outside();
    const tar = new TarWriter()
      .file("../escape1", "1")
      .file("../../../../../escape2", "2")
      .file("a/../../../escape3", "3")
      .file("/abs", "4")
      .file(`${out}/abs-outside`, "5")
      .dir("../../escdir/")
      .end();
    ok(unpack(d, tar));
    expect(readdirSync(c)).toEqual(["dest"]);
    expect(readdirSync(out)).toEqual([]);
    expect(existsSync("/escape2") || existsSync("/escape3") || existsSync("/escdir")).toBe(false);
    expect(readFileSync(join(d, "escape1"), "utf8")).toBe("1");
    expect(readFileSync(join(d, "escape2"), "utf8")).toBe("2");
    expect(readFileSync(join(d, "escape3"), "utf8")).toBe("3");
    expect(readFileSync(join(d, "abs"), "utf8")).toBe("4");
    expect(readFileSync(join(d, out, "abs-outside"), "utf8")).toBe("5");
    expect(statSync(join(d, "escdir")).isDirectory()).toBe(true);
  });

  test("symlink to an outside dir, then a write through it: refused", () => {
    const [d, c] = fresh();
    const out = outside();
    const r = unpack(d, new TarWriter().symlink("link", out).file("link/pwned", "evil").end());
    refused(r, /^tspod-rt: unpack: link\/pwned: resolve parent directory inside the layer: No such file or directory$/);
    expect(readdirSync(out)).toEqual([]);
    expect(readdirSync(c)).toEqual(["dest"]);
    expect(readlinkSync(join(d, "link"))).toBe(out); // the symlink itself is kept as written
  });

  test("symlink to an outside path that also exists inside: the write lands inside", () => {
    const [d] = fresh();
    const out = outside();
    const tar = new TarWriter().dir(`${out.slice(1)}/`).symlink("link", out).file("link/pwned", "inside").end();
    ok(unpack(d, tar));
    expect(readdirSync(out)).toEqual([]);
    expect(readFileSync(join(d, out, "pwned"), "utf8")).toBe("inside");
  });

  test("symlink to ../../.. (and to /), then writes through it: land at DEST's root", () => {
    const [d, c] = fresh();
    const tar = new TarWriter()
      .symlink("up", "../../..")
      .file("up/evil", "x")
      .file("up/up/../evil2", "y")
      .symlink("root", "/")
      .file("root/etc/through-root", "z")
      .symlink("a", "b")
      .symlink("b", "../../../../")
      .file("a/chained", "w")
      .end();
    ok(unpack(d, tar));
    expect(readdirSync(c)).toEqual(["dest"]);
    expect(existsSync("/evil") || existsSync("/evil2") || existsSync("/chained")).toBe(false);
    expect(existsSync("/etc/through-root")).toBe(false);
    expect(readFileSync(join(d, "evil"), "utf8")).toBe("x");
    expect(readFileSync(join(d, "evil2"), "utf8")).toBe("y");
    expect(readFileSync(join(d, "etc/through-root"), "utf8")).toBe("z");
    expect(readFileSync(join(d, "chained"), "utf8")).toBe("w");
  });

  test("a symlink chain that ends outside, then a write through it: refused", () => {
    const [d] = fresh();
    const out = outside();
    const r = unpack(d, new TarWriter().symlink("a", "b").symlink("b", out).file("a/x", "evil").end());
    refused(r);
    expect(readdirSync(out)).toEqual([]);
  });

  test("a regular file over a symlink to an outside file replaces the symlink", () => {
    const [d] = fresh();
    const out = outside();
    const target = join(out, "victim");
    writeFileSync(target, "original");
    const tar = new TarWriter().symlink("f", target).file("f", "replaced").hardlink("g", "f").end();
    ok(unpack(d, tar));
    expect(readFileSync(target, "utf8")).toBe("original");
    expect(readdirSync(out)).toEqual(["victim"]);
    expect(lstatSync(join(d, "f")).isFile()).toBe(true);
    expect(readFileSync(join(d, "f"), "utf8")).toBe("replaced");
    expect(statSync(join(d, "g")).ino).toBe(statSync(join(d, "f")).ino);
  });

  test("hard links to /etc/passwd (absolute, ../, through a symlink) are refused; /etc/passwd unchanged", () => {
    const before = snapshot("/etc/passwd");
    for (const tar of [
      new TarWriter().hardlink("hl", "/etc/passwd").end(),
      new TarWriter().hardlink("hl", "../../../../../../etc/passwd").end(),
      new TarWriter().symlink("etcl", "/etc").hardlink("hl", "etcl/passwd").end(),
      new TarWriter().symlink("up", "../../../../..").hardlink("hl", "up/etc/passwd").end(),
    ]) {
      const [d] = fresh();
      refused(unpack(d, tar), /^tspod-rt: unpack: hl: resolve hard link target inside the layer: No such file or directory$/);
      expect(existsSync(join(d, "hl"))).toBe(false);
    }
    expect(snapshot("/etc/passwd")).toEqual(before);
  });

  test("a hard link to an absolute path that exists in the layer links the layer's file", () => {
    const before = snapshot("/etc/passwd");
    const [d] = fresh();
    ok(unpack(d, new TarWriter().file("etc/passwd", "root:x:0:0::/root:/bin/sh\n").hardlink("hl", "/etc/passwd").end()));
    expect(statSync(join(d, "hl")).ino).toBe(statSync(join(d, "etc/passwd")).ino);
    expect(snapshot("/etc/passwd")).toEqual(before);
  });

  test("a hard link to a directory is refused", () => {
    const [d] = fresh();
    refused(unpack(d, new TarWriter().dir("dir/").hardlink("hl", "dir").end()), /hard link to a directory refused/);
    const [d2] = fresh();
    refused(unpack(d2, new TarWriter().hardlink("hl", "/").end()), /hard link to a directory refused/);
  });

  test("whiteouts and opaque markers through escaping symlinks stay inside", () => {
    const [d, c] = fresh();
    const out = outside();
    writeFileSync(join(out, "secret"), "s");
    refused(unpack(d, new TarWriter().symlink("link", out).file("link/.wh.secret").end()));
    expect(readdirSync(out)).toEqual(["secret"]);
    const [d2, c2] = fresh();
    ok(unpack(d2, new TarWriter().symlink("up", "../..").file("up/.wh..wh..opq").file("up/.wh.gone").end()));
    expect(getxattr(d2, "user.overlay.opaque")).toBe("y");
    expect(getxattr(c2, "user.overlay.opaque")).toBe(null);
    expect(lstatSync(join(d2, "gone")).isCharacterDevice()).toBe(true);
    expect(readdirSync(c2)).toEqual(["dest"]);
    expect(readdirSync(c)).toEqual(["dest"]);
  });
});

describe("metadata and whiteouts", () => {
  test("modes (setuid, setgid, sticky), directory times, symlink targets, fifo", () => {
    const [d] = fresh();
    const tar = new TarWriter()
      .dir("bin/", { mode: 0o755, mtime: 1111111111 })
      .file("bin/su", "x", { mode: 0o4755, mtime: 1222222222 })
      .file("bin/wall", "y", { mode: 0o2755 })
      .dir("shared/", { mode: 0o2775, mtime: 1333333333 })
      .dir("tmp/", { mode: 0o1777 })
      .file("tmp/later", "written after tmp/")
      .dir("bin/sub/", { mtime: 1444444444 })
      .file("bin/sub/deep", "z")
      .file("shared/in-sgid", "g")
      .symlink("abs", "/usr/bin/target")
      .symlink("rel", "../x/y")
      .entry({ name: "pipe", type: "6", mode: 0o620 })
      .end();
    ok(unpack(d, tar));
    expect(statSync(join(d, "bin/su")).mode & 0o7777).toBe(0o4755);
    expect(statSync(join(d, "bin/su")).mtimeMs).toBe(1222222222000);
    expect(statSync(join(d, "bin/wall")).mode & 0o7777).toBe(0o2755);
    expect(statSync(join(d, "shared")).mode & 0o7777).toBe(0o2775);
    expect(statSync(join(d, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(d, "shared/in-sgid")).mode & 0o7777).toBe(0o644);
    expect(statSync(join(d, "bin")).mtimeMs).toBe(1111111111000);
    expect(statSync(join(d, "bin/sub")).mtimeMs).toBe(1444444444000);
    expect(statSync(join(d, "shared")).mtimeMs).toBe(1333333333000);
    expect(statSync(join(d, "tmp")).mtimeMs).toBe(1700000000000);
    expect(readlinkSync(join(d, "abs"))).toBe("/usr/bin/target");
    expect(readlinkSync(join(d, "rel"))).toBe("../x/y");
    expect(lstatSync(join(d, "abs")).mtimeMs).toBe(1700000000000);
    expect(lstatSync(join(d, "pipe")).isFIFO()).toBe(true);
    expect(lstatSync(join(d, "pipe")).mode & 0o7777).toBe(0o620);
  });

  test("whiteouts become 0:0 char devices, opaque markers an xattr; aufs metadata is skipped", () => {
    const [d] = fresh();
    const tar = new TarWriter()
      .dir("etc/")
      .file("etc/.wh.removed", "", { uid: 5, gid: 6 })
      .dir("opaque/")
      .file("opaque/.wh..wh..opq")
      .file("opaque/new", "n")
      .file(".wh..wh.plnk/123.456", "aufs hard link store")
      .file(".wh..wh.aufs")
      .file("etc/.wh..wh.other")
      .end();
    const j = ok(unpack(d, tar));
    expect(j.skipped_other).toBe(3);
    expect(existsSync(join(d, ".wh..wh.plnk"))).toBe(false);
    const wh = lstatSync(join(d, "etc/removed"));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect([wh.uid, wh.gid]).toEqual([process.getuid!(), process.getgid!()]);
    expect(existsSync(join(d, "etc/.wh.removed"))).toBe(false);
    expect(getxattr(join(d, "opaque"), "user.overlay.opaque")).toBe("y");
    if (IS_ROOT) expect(getxattr(join(d, "opaque"), "trusted.overlay.opaque")).toBe("y");
    expect(readdirSync(join(d, "opaque"))).toEqual(["new"]);
    expect(existsSync(join(d, ".wh..wh.aufs"))).toBe(false);
  });

  test("xattrs: user.* applied to files and dirs; overlay.* in a tar is not taken", () => {
    const [d] = fresh();
    const tar = new TarWriter()
      .pax({ "SCHILY.xattr.user.dir": "d" })
      .dir("x/")
      .pax({ "SCHILY.xattr.user.a": "1", "SCHILY.xattr.user.overlay.opaque": "y", "SCHILY.xattr.user.bin": "\u0001\u0002" })
      .file("x/f", "f")
      .end();
    const j = ok(unpack(d, tar));
    expect(j.skipped_xattrs).toBe(1);
    expect(getxattr(join(d, "x"), "user.dir")).toBe("d");
    expect(getxattr(join(d, "x/f"), "user.a")).toBe("1");
    expect(getxattr(join(d, "x/f"), "user.bin")).toBe("\u0001\u0002");
    expect(getxattr(join(d, "x/f"), "user.overlay.opaque")).toBe(null);
  });
});

describe.if(IS_ROOT)("as real root (no user namespace)", () => {
  test("owners exactly as in the tar, including symlinks and base-256 ids", () => {
    const [d] = fresh();
    const tar = new TarWriter()
      .dir("var/www/", { uid: 33, gid: 33, mode: 0o2750 })
      .file("var/www/index.html", "hi", { uid: 33, gid: 34, mode: 0o4640 })
      .file("root-owned", "r")
      .symlink("var/www/link", "index.html", { uid: 44, gid: 45 })
      .file("big-ids", "b", { uid: 3000000, gid: 3000001, base256: true })
      .end();
    const j = ok(unpack(d, tar));
    expect(j.squashed).toBe(0);
    const own = (p: string) => {
      const s = lstatSync(join(d, p));
      return [s.uid, s.gid];
    };
    expect(own("var/www")).toEqual([33, 33]);
    expect(own("var/www/index.html")).toEqual([33, 34]);
    expect(own("root-owned")).toEqual([0, 0]);
    expect(own("var/www/link")).toEqual([44, 45]);
    expect(own("big-ids")).toEqual([3000000, 3000001]);
    expect(statSync(join(d, "var/www/index.html")).mode & 0o7777).toBe(0o4640); // chown did not drop setuid
    expect(statSync(join(d, "var/www")).mode & 0o7777).toBe(0o2750);
  });

  test("device nodes are created; whiteouts owned 0:0", () => {
    const [d] = fresh();
    const tar = new TarWriter()
      .entry({ name: "dev/null", type: "3", devmajor: 1, devminor: 3, mode: 0o666 })
      .entry({ name: "dev/loop9", type: "4", devmajor: 7, devminor: 9, mode: 0o660, gid: 6 })
      .file("dev/.wh.gone")
      .end();
    const j = ok(unpack(d, tar));
    expect(j.skipped_devices).toBe(0);
    const c = lstatSync(join(d, "dev/null"));
    expect(c.isCharacterDevice()).toBe(true);
    expect(c.rdev).toBe(0x103);
    expect(c.mode & 0o7777).toBe(0o666);
    const b = lstatSync(join(d, "dev/loop9"));
    expect(b.isBlockDevice()).toBe(true);
    expect(b.gid).toBe(6);
    const w = lstatSync(join(d, "dev/gone"));
    expect([w.uid, w.gid, w.rdev]).toEqual([0, 0, 0]);
  });
});

// ---------------------------------------------------------------------------
// Rootless: the helper runs as the test user; with maps from /etc/subuid the
// owners in the layer become the user's uid and subuid+N.

function userInfo(name: string): { uid: number; gid: number } | undefined {
  const r = Bun.spawnSync(["id", "-u", name]);
  if (r.exitCode !== 0) return undefined;
  const g = Bun.spawnSync(["id", "-g", name]);
  return { uid: Number(r.stdout.toString().trim()), gid: Number(g.stdout.toString().trim()) };
}
function subRange(file: string, name: string, id: number): [number, number] | undefined {
  if (!existsSync(file)) return undefined;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const [who, start, count] = line.split(":");
    if ((who === name || who === String(id)) && start && count) return [Number(start), Number(count)];
  }
  return undefined;
}

const USER = process.env.TSPOD_TEST_USER ?? "tspodtest";
const user = IS_ROOT ? userInfo(USER) : undefined;
const subu = user && subRange("/etc/subuid", USER, user.uid);
const subg = user && subRange("/etc/subgid", USER, user.gid);
const rootlessWhy = !IS_ROOT
  ? "tests are not running as root (cannot switch to the test user)"
  : !user
    ? `user ${USER} does not exist (test/env/setup.sh creates it)`
    : !subu || !subg
      ? `${USER} has no /etc/subuid or /etc/subgid range`
      : "";
if (rootlessWhy) console.warn(`SKIPPING rootless unpack tests: ${rootlessWhy}`);

describe.if(!rootlessWhy)("rootless (as the test user, in a user namespace)", () => {
  const maps = () => [
    "--uidmap",
    `0:${user!.uid}:1,1:${subu![0]}:${subu![1]}`,
    "--gidmap",
    `0:${user!.gid}:1,1:${subg![0]}:${subg![1]}`,
  ];
  const layer = () =>
    new TarWriter()
      .dir("etc/")
      .file("etc/root-file", "0", { mode: 0o644 })
      .dir("var/www/", { uid: 33, gid: 33, mode: 0o750 })
      .file("var/www/index.html", "33", { uid: 33, gid: 33, mode: 0o4755 })
      .symlink("var/www/link", "/etc/root-file", { uid: 33, gid: 34 })
      .entry({ name: "dev/null", type: "3", devmajor: 1, devminor: 3, mode: 0o666 })
      .entry({ name: "fifo", type: "6", uid: 33, gid: 33 })
      .file("etc/.wh.gone")
      .dir("opq/", { mtime: 1234567890 })
      .file("opq/.wh..wh..opq")
      .pax({ "SCHILY.xattr.user.k": "v", "SCHILY.xattr.security.capability": "\u0001\u0000\u0000\u0002" })
      .file("xattrs", "x")
      .end();

  test("with the subuid map: uid 0 -> the user, uid 33 -> subuid+32", async () => {
    const [d] = fresh(user);
    const j = ok(await unpackPiped(d, layer(), { user, args: maps() }));
    expect(j.squashed).toBe(0);
    expect(j.skipped_devices).toBe(1); // mknod of 1:3 is refused in a user namespace
    expect(j.skipped_xattrs).toBe(1); // a malformed security.capability: counted, not fatal
    const own = (p: string) => {
      const s = lstatSync(join(d, p));
      return [s.uid, s.gid];
    };
    const U = user!.uid,
      G = user!.gid;
    expect(own("etc/root-file")).toEqual([U, G]);
    expect(own("var/www")).toEqual([subu![0] + 32, subg![0] + 32]);
    expect(own("var/www/index.html")).toEqual([subu![0] + 32, subg![0] + 32]);
    expect(own("var/www/link")).toEqual([subu![0] + 32, subg![0] + 33]);
    expect(own("fifo")).toEqual([subu![0] + 32, subg![0] + 32]);
    expect(statSync(join(d, "var/www/index.html")).mode & 0o7777).toBe(0o4755);
    expect(existsSync(join(d, "dev/null"))).toBe(false);
    const w = lstatSync(join(d, "etc/gone"));
    expect(w.isCharacterDevice()).toBe(true);
    expect([w.uid, w.gid, w.rdev]).toEqual([U, G, 0]);
    expect(getxattr(join(d, "opq"), "user.overlay.opaque")).toBe("y");
    expect(getxattr(join(d, "opq"), "trusted.overlay.opaque")).toBe(null);
    expect(statSync(join(d, "opq")).mtimeMs).toBe(1234567890000);
    expect(getxattr(join(d, "xattrs"), "user.k")).toBe("v");
  });

  test("without maps: a single-id map, other owners squashed to the user", () => {
    const [d] = fresh(user);
    const j = ok(unpack(d, layer(), { user }));
    expect(j.squashed).toBe(4); // var/www, index.html, link, fifo
    for (const p of ["etc/root-file", "var/www", "var/www/index.html", "var/www/link", "fifo"]) {
      const s = lstatSync(join(d, p));
      expect([p, s.uid, s.gid]).toEqual([p, user!.uid, user!.gid]);
    }
    expect(lstatSync(join(d, "etc/gone")).isCharacterDevice()).toBe(true);
  });

  test("confinement holds rootless, even where the user could write", () => {
    const [d, c] = fresh(user);
    const out = outside(user);
    const r = unpack(d, new TarWriter().symlink("link", out).file("link/pwned", "evil").end(), { user, args: maps() });
    refused(r);
    const r2 = unpack(d, new TarWriter().hardlink("hl", "/etc/passwd").end(), { user, args: maps() });
    refused(r2);
    const [d3] = fresh(user);
    ok(unpack(d3, new TarWriter().file("../../x", "in").symlink("up", "../../..").file("up/y", "in").end(), { user, args: maps() }));
    expect(readdirSync(out)).toEqual([]);
    expect(readdirSync(c)).toEqual(["dest"]);
    expect(tree(d3)).toEqual(["up", "x", "y"]);
  });

  test("with the subuid map, an owner outside it is refused (as Podman); root is never what it becomes", () => {
    const outside = subu![1] + 1; // the map covers 0..count
    for (const o of [{ uid: outside, gid: 0 }, { uid: 0, gid: subg![1] + 5 }]) {
      const [d] = fresh(user);
      const r = unpack(d, new TarWriter().file("ok", "x").file("bin/su", "#!", { ...o, mode: 0o4755 }).end(), { user, args: maps() });
      refused(r, new RegExp(`^tspod-rt: unpack: bin/su: owner ${o.uid}:${o.gid} is outside the user namespace's ids`));
      // stopped before its mode was applied: never a setuid file of root's
      if (existsSync(join(d, "bin/su"))) expect(statSync(join(d, "bin/su")).mode & 0o6000).toBe(0);
    }
  });

  test("a bad map is one clear error", () => {
    const [d] = fresh(user);
    const r = unpack(d, new TarWriter().file("f").end(), { user, args: ["--uidmap", "0:0:1", "--gidmap", "0:0:1"] });
    refused(r, /map user namespace ids/);
  });

  test("the child in the user namespace dies with the helper (a pull kills only the helper)", async () => {
    const [d, c] = fresh(user);
    // stdin a FIFO this test keeps open for writing: without PDEATHSIG the orphaned
    // child would wait for input for ever (a pipe from Bun would be closed at exit)
    const fifo = join(c, "in.fifo");
    expect(Bun.spawnSync(["mkfifo", "-m", "0666", fifo]).exitCode).toBe(0);
    const keep = openSync(fifo, "r+");
    const cmd = argv(d, { user, args: maps() }).map((a) => `'${a}'`).join(" ");
    const p = Bun.spawn(["sh", "-c", `exec ${cmd} < ${fifo}`], { stdout: "pipe", stderr: "pipe" });
    // sh and setpriv exec in place: p.pid is the helper; its child applies the layer
    const childOf = (pid: number) => {
      try {
        return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
      } catch {
        return [];
      }
    };
    let kids: number[] = [];
    for (let i = 0; i < 100 && !kids.length; i++) {
      await Bun.sleep(20);
      // (a child may be gone by the time it is read: newuidmap and newgidmap come and go; CI met one)
      const cmdline = (k: number) => {
        try {
          return readFileSync(`/proc/${k}/cmdline`, "utf8");
        } catch {
          return "";
        }
      };
      kids = childOf(p.pid).filter((k) => cmdline(k).includes("unpack"));
    }
    expect(kids.length).toBe(1);
    process.kill(p.pid, "SIGKILL");
    await p.exited;
    let alive = true;
    for (let i = 0; i < 100 && alive; i++) {
      await Bun.sleep(20);
      alive = existsSync(`/proc/${kids[0]}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${kids[0]}/status`, "utf8"));
    }
    closeSync(keep);
    expect(alive).toBe(false);
  });
});

// ---------------------------------------------------------------------------
// Rootless with --keep-userns FILE: the first helper leaves a process keeping a
// mapped user namespace (as Podman's pause process) and names it in FILE; later
// helpers join it instead of running newuidmap/newgidmap (native/idmap.c).

describe.if(!rootlessWhy)("rootless: the kept user namespace", () => {
  const uidSpec = () => `0:${user!.uid}:1,1:${subu![0]}:${subu![1]}`;
  const gidSpec = () => `0:${user!.gid}:1,1:${subg![0]}:${subg![1]}`;
  const maps = (file: string) => ["--uidmap", uidSpec(), "--gidmap", gidSpec(), "--keep-userns", file];
  const layer = () => new TarWriter().file("root-file", "0").dir("www/", { uid: 33, gid: 34 }).file("www/f", "33", { uid: 33, gid: 34 }).end();
  const owners = (d: string) => ["root-file", "www", "www/f"].map((p) => [lstatSync(join(d, p)).uid, lstatSync(join(d, p)).gid]);
  const expected = () => [[user!.uid, user!.gid], [subu![0] + 32, subg![0] + 33], [subu![0] + 32, subg![0] + 33]];
  /** A place for FILE the test user may write: a fresh runroot-like dir. */
  const keepDir = () => {
    const k = join(base, `keep-${++n}`);
    mkdirSync(k, { mode: 0o700 });
    chownSync(k, user!.uid, user!.gid);
    return k;
  };
  const pidIn = (file: string) => Number(readFileSync(file, "utf8").trim());
  const alive = (pid: number) => {
    try {
      return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
    } catch {
      return false;
    }
  };
  /** Live keepers of the test user, by /proc. */
  const keepers = () =>
    readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return readFileSync(`/proc/${d}/comm`, "utf8").trim() === "tspod-userns" && statSync(`/proc/${d}`).uid === user!.uid && alive(Number(d));
        } catch {
          return false;
        }
      })
      .map(Number);
  const gone = async (pid: number) => {
    for (let i = 0; i < 100 && alive(pid); i++) await Bun.sleep(10);
    return !alive(pid);
  };
  const keptFiles: string[] = [];
  /** A fresh FILE for --keep-userns, its keeper ended after the tests (the file removed). */
  const keepFile = () => {
    const k = keepDir();
    const file = join(k, "userns.pid");
    keptFiles.push(file);
    return { k, file };
  };
  afterAll(() => {
    for (const f of keptFiles) rmSync(f, { force: true }); // their keepers exit
  });

  test("the first helper leaves a keeper: named in FILE, mapped as asked, holding nothing of the caller's", async () => {
    const { k, file } = keepFile();
    const [d] = fresh(user);
    // through pipes the caller reads to the end: a keeper holding them would hang this
    const r = await Promise.race([unpackPiped(d, layer(), { user, args: maps(file) }), Bun.sleep(20000).then(() => "timeout" as const)]);
    expect(r).not.toBe("timeout");
    ok(r as Res);
    expect(owners(d)).toEqual(expected());
    const pid = pidIn(file);
    expect(alive(pid)).toBe(true);
    // (it is recorded, then execs itself: the name comes a moment after; CI read "exe" once)
    const comm = () => readFileSync(`/proc/${pid}/comm`, "utf8").trim();
    for (let i = 0; i < 200 && comm() !== "tspod-userns"; i++) await Bun.sleep(10);
    expect(comm()).toBe("tspod-userns");
    // a fresh image: its own command line (naming its file), nothing of the caller's environment
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).toBe(`tspod-rt\0userns-keeper\0${file}\0`);
    expect(readFileSync(`/proc/${pid}/environ`, "utf8")).toBe("");
    const norm = (t: string) => t.trim().split("\n").map((l) => l.trim().split(/\s+/).join(":")).join(",");
    expect(norm(readFileSync(`/proc/${pid}/uid_map`, "utf8"))).toBe(uidSpec());
    expect(norm(readFileSync(`/proc/${pid}/gid_map`, "utf8"))).toBe(gidSpec());
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe("/");
    const fds = readdirSync(`/proc/${pid}/fd`).map((f) => readlinkSync(`/proc/${pid}/fd/${f}`));
    expect(fds.sort()).toEqual(["/dev/null", "/dev/null", "/dev/null", "anon_inode:inotify"]);
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    expect(Number(stat[3])).toBe(pid); // its own session (field 6: sid)
    expect((statSync(file).mode & 0o777).toString(8)).toBe("644");
    expect(statSync(file).uid).toBe(user!.uid);
  });

  test("later helpers join it (unpack, rmtree): no second keeper, same owners; removing FILE ends it", async () => {
    const { k, file } = keepFile();
    const [d1] = fresh(user);
    ok(unpack(d1, layer(), { user, args: maps(file) }));
    const pid = pidIn(file);
    const before = keepers();
    expect(before).toContain(pid);
    const [d2] = fresh(user);
    ok(unpack(d2, layer(), { user, args: maps(file) }));
    expect(owners(d2)).toEqual(expected());
    // rmtree of a tree with subuid owners only works inside the namespace
    const rm = Bun.spawnSync(["setpriv", `--reuid=${user!.uid}`, `--regid=${user!.gid}`, "--clear-groups", RT, "rmtree", ...maps(file), join(d1, "www")], { stderr: "pipe" });
    expect(rm.stderr.toString()).toBe("");
    expect(rm.exitCode).toBe(0);
    expect(tree(d1)).toEqual(["root-file"]);
    expect(pidIn(file)).toBe(pid);
    expect(keepers().sort()).toEqual(before.sort());
    rmSync(file);
    expect(await gone(pid)).toBe(true);
  });

  test("FILE naming something else (gone, another map, not a namespace of ours): a new keeper; the other process is left alone", async () => {
    const { k, file } = keepFile();
    // the test user's own namespace with a single-id map: joinable, but the wrong map
    const other = Bun.spawn(["setpriv", `--reuid=${user!.uid}`, `--regid=${user!.gid}`, "--clear-groups", "unshare", "--user", "--map-root-user", "sleep", "60"], { stdout: "ignore", stderr: "ignore" });
    try {
      for (let i = 0; i < 100 && readFileSync(`/proc/${other.pid}/uid_map`, "utf8").trim().startsWith("0 0 "); i++) await Bun.sleep(10);
      const dead = Bun.spawnSync(["true"]).pid;
      let last = 0;
      for (const stale of [String(dead), String(other.pid), String(process.pid), "garbage"]) {
        writeFileSync(file, `${stale}\n`);
        chownSync(file, user!.uid, user!.gid);
        const [d] = fresh(user);
        ok(unpack(d, layer(), { user, args: maps(file) }));
        expect(owners(d)).toEqual(expected());
        const pid = pidIn(file);
        expect([stale, alive(pid)]).toEqual([stale, true]);
        expect(pid).not.toBe(Number(stale));
        if (last) expect(await gone(last)).toBe(true); // replaced, so it left
        last = pid;
      }
      expect(other.exitCode).toBe(null); // never touched
    } finally {
      other.kill("SIGKILL");
    }
  });

  test("FILE written over in place ends the keeper; a FIFO or an out-of-range pid there is not waited on or joined", async () => {
    const { k, file } = keepFile();
    const [d1] = fresh(user);
    ok(unpack(d1, layer(), { user, args: maps(file) }));
    const first = pidIn(file);
    writeFileSync(file, "1\n"); // same inode, other content
    expect(await gone(first)).toBe(true);
    // a FIFO: opening it must not wait for a writer
    rmSync(file);
    expect(Bun.spawnSync(["setpriv", `--reuid=${user!.uid}`, `--regid=${user!.gid}`, "--clear-groups", "mkfifo", file]).exitCode).toBe(0);
    const [d2] = fresh(user);
    const r = await Promise.race([unpackPiped(d2, layer(), { user, args: maps(file) }), Bun.sleep(20000).then(() => "timeout" as const)]);
    expect(r).not.toBe("timeout");
    ok(r as Res);
    const second = pidIn(file); // the FIFO was replaced
    expect(alive(second)).toBe(true);
    // 2^32 + that pid: the same pid when truncated to 32 bits, but not what the file says
    writeFileSync(file, `${2 ** 32 + second}\n`);
    expect(await gone(second)).toBe(true); // written over: it left
    const [d3] = fresh(user);
    ok(unpack(d3, layer(), { user, args: maps(file) }));
    expect(pidIn(file)).not.toBe(second);
    expect(owners(d3)).toEqual(expected());
  });

  test("a keeper that dies right after it was mapped: the helper still works in its namespace; the next makes another", async () => {
    const { k, file } = keepFile();
    const [d1] = fresh(user);
    // its end of the pipe is closed before the helper says go: a write that must not kill the helper (SIGPIPE)
    const cmd = ["setpriv", `--reuid=${user!.uid}`, `--regid=${user!.gid}`, "--clear-groups", "env", "TSPOD_RT_FAILPOINT=keeper-dies-early", RT, "unpack", ...maps(file), d1];
    const p = Bun.spawnSync(cmd, { stdin: layer(), stdout: "pipe", stderr: "pipe" });
    ok(result(p.exitCode ?? -1, p.stdout.toString(), p.stderr.toString()));
    expect(owners(d1)).toEqual(expected());
    const dead = pidIn(file);
    expect(await gone(dead)).toBe(true);
    const [d2] = fresh(user);
    ok(unpack(d2, layer(), { user, args: maps(file) }));
    expect(pidIn(file)).not.toBe(dead);
    expect(alive(pidIn(file))).toBe(true);
  });

  test("a keeper killed over and over while helpers start: every helper still succeeds", async () => {
    const { k, file } = keepFile();
    const killer = Bun.spawn(["setpriv", `--reuid=${user!.uid}`, `--regid=${user!.gid}`, "--clear-groups", "sh", "-c", `while :; do kill -9 $(cat ${file} 2>/dev/null) 2>/dev/null; done`], { stdout: "ignore", stderr: "ignore" });
    try {
      for (let i = 0; i < 30; i++) {
        const [d] = fresh(user);
        const r = await unpackPiped(d, layer(), { user, args: maps(file) });
        expect([i, r.code, r.stderr]).toEqual([i, 0, ""]);
        expect(owners(d)).toEqual(expected());
      }
    } finally {
      killer.kill("SIGKILL");
    }
  });

  test("helpers starting at once with no keeper make one between them", async () => {
    const { k, file } = keepFile();
    const before = new Set(keepers());
    const dests = [1, 2, 3, 4].map(() => fresh(user)[0]);
    const rs = await Promise.all(dests.map((d) => unpackPiped(d, layer(), { user, args: maps(file) })));
    for (const [i, r] of rs.entries()) {
      ok(r);
      expect(owners(dests[i])).toEqual(expected());
    }
    const made = keepers().filter((p) => !before.has(p));
    expect(made).toEqual([pidIn(file)]);
  });

  test("a keeper killed, or a map that fails, is one clear error or a new keeper", async () => {
    const { k, file } = keepFile();
    const [d1] = fresh(user);
    ok(unpack(d1, layer(), { user, args: maps(file) }));
    const first = pidIn(file);
    process.kill(first, "SIGKILL");
    expect(await gone(first)).toBe(true);
    const [d2] = fresh(user);
    ok(unpack(d2, layer(), { user, args: maps(file) }));
    expect(owners(d2)).toEqual(expected());
    expect(pidIn(file)).not.toBe(first);
    const [d3] = fresh(user);
    refused(unpack(d3, layer(), { user, args: ["--uidmap", "0:0:1", "--gidmap", "0:0:1", "--keep-userns", join(k, "bad.pid")] }), /map user namespace ids/);
    expect(existsSync(join(k, "bad.pid"))).toBe(false);
  });
});

describe("malformed input: exit 1 and one line on stderr", () => {
  const good = () => new TarWriter().file("a", "aaaa").file("b", "x".repeat(3000)).end();

  test("truncated in file data", () => {
    const [d] = fresh();
    const t = good();
    refused(unpack(d, t.subarray(0, 512 + 512 + 512 + 1000)), /^tspod-rt: unpack: b: truncated tar stream/);
  });

  test("truncated inside a header, or after a header that announces an entry", async () => {
    const [d] = fresh();
    refused(unpack(d, good().subarray(0, 1024 + 300)), /truncated tar stream/);
    for (const dangling of [new TarWriter().file("a", "aaaa").pax({ path: "p" }), new TarWriter().file("a", "aaaa").entry({ name: "././@LongLink", type: "L", data: "long/name\0" })]) {
      const [d2] = fresh();
      refused(await unpackPiped(d2, dangling.end(true)), /truncated tar stream/);
    }
  });

  test("an archive that ends at an entry boundary without the two zero blocks is whole (as Go's archive/tar, GNU tar)", async () => {
    const [d] = fresh();
    expect(ok(await unpackPiped(d, new TarWriter().file("a", "aaaa").file("b", "x".repeat(3000)).end(true))).entries).toBe(2);
    expect(readFileSync(join(d, "b"), "utf8")).toBe("x".repeat(3000));
    const [d2, c2] = fresh();
    const tar = new TarWriter().file("z", "zz").end(true);
    const j = ok(unpack(d2, gzip(tar), { args: ["--input", "auto", "--blob", join(c2, "blob")] })) as Decoded;
    expect(j.diff_id).toBe(`sha256:${sha256(tar)}`);
  });

  test("bad header checksum", () => {
    const [d] = fresh();
    const t = concat([new TarWriter().file("a", "x").end(true), header({ name: "b", badChecksum: true }), new Uint8Array(1024)]);
    refused(unpack(d, t), /bad tar header checksum/);
    const [d2] = fresh();
    refused(unpack(d2, new TextEncoder().encode("this is not a tar stream".padEnd(2048, "!"))), /bad tar header checksum/);
  });

  test("malformed pax record and numeric field", () => {
    const [d] = fresh();
    const bad = new TarWriter().entry({ name: "p", type: "x", data: "99 path=x\n" }).file("f").end();
    refused(unpack(d, bad), /malformed pax record/);
    const h = header({ name: "n", data: "" });
    h.set(new TextEncoder().encode("9z"), 108); // uid field
    let sum = 0;
    h.fill(0x20, 148, 156);
    for (const b of h) sum += b;
    h.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
    const [d2] = fresh();
    refused(unpack(d2, concat([h, new Uint8Array(1024)])), /malformed uid field/);
  });

  test("empty input is an empty layer; a missing DEST is an error", () => {
    const [d] = fresh();
    expect(ok(unpack(d, new Uint8Array(0))).entries).toBe(0);
    refused(unpack(join(base, "no-such-dir"), new TarWriter().end()), /open destination directory: No such file or directory/);
  });
});

// ---------------------------------------------------------------------------
// --input tar|gzip|zstd [--blob FILE]: the pull's path. The helper keeps the blob
// as it came, decompresses it and reports the SHA-256 of the tar (the diff id).

const gzip = (b: Uint8Array): Uint8Array => Bun.gzipSync(b as Uint8Array<ArrayBuffer>);
const sha256 = (b: Uint8Array) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
function zstdOf(b: Uint8Array): Uint8Array {
  const p = Bun.spawnSync(["zstd", "-q", "-c", "-3"], { stdin: b, stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`zstd: ${p.stderr}`);
  return new Uint8Array(p.stdout);
}
function packed(kind: string, tar: Uint8Array): Uint8Array {
  return kind === "gzip" ? gzip(tar) : kind === "zstd" ? zstdOf(tar) : tar;
}
interface Decoded extends Counters {
  diff_id: string;
  tar_bytes: number;
  input_bytes: number;
}

describe("--input: decompression, the blob file and the diff id", () => {
  // Enough files, and one big one, that the decompressing thread and the
  // unpacking one hand over many buffers, with both input paths.
  const big = new Uint8Array(3_000_000).map((_, i) => (i * 7919) >> 5);
  const tarOf = () => {
    const w = new TarWriter();
    for (let i = 0; i < 300; i++) w.file(`d${i % 7}/f${i}`, `file ${i} `.repeat(i % 50));
    return w.file("big.bin", big).symlink("link", "big.bin").end();
  };

  for (const kind of ["gzip", "zstd", "tar"]) {
    test(`${kind}: tree, blob file byte-exact, diff id = sha256 of the tar (memfd and pipe)`, async () => {
      const tar = tarOf();
      const blob = packed(kind, tar);
      for (const piped of [false, true]) {
        const [d, c] = fresh();
        const args = ["--input", kind, "--blob", join(c, "blob")];
        const r = piped ? await unpackPiped(d, blob, { args }) : unpack(d, blob, { args });
        const j = ok(r) as Decoded;
        expect(j.diff_id).toBe(`sha256:${sha256(tar)}`);
        expect(j.tar_bytes).toBe(tar.length);
        expect(j.input_bytes).toBe(blob.length);
        expect(Buffer.from(blob).equals(readFileSync(join(c, "blob")))).toBe(true);
        expect(statSync(join(c, "blob")).mode & 0o777).toBe(0o644);
        expect(readFileSync(join(d, "d3/f10"), "utf8")).toBe("file 10 ".repeat(10));
        expect(sha256(readFileSync(join(d, "big.bin")))).toBe(sha256(big));
        expect(readlinkSync(join(d, "link"))).toBe("big.bin");
        expect(j.entries).toBe(302);
      }
    });
  }

  test("the SHA-256 agrees with sha256sum's, accelerated or not, at every length around a block", () => {
    for (const env of [{}, { TSPOD_SHA256_PORTABLE: "1" }]) {
      for (const len of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, 70001]) {
        const data = new Uint8Array(len).map((_, i) => (i * 31 + len) & 255);
        const [d] = fresh();
        // a "tar" that is all data: the digest covers the whole input even when it is not a tar
        const t = concat([new TarWriter().end(), data]);
        const p = Bun.spawnSync([RT, "unpack", "--input", "tar", d], { stdin: t, env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
        expect(p.exitCode).toBe(0);
        const want = Bun.spawnSync(["sha256sum"], { stdin: t }).stdout.toString().slice(0, 64);
        expect(JSON.parse(p.stdout.toString()).diff_id).toBe(`sha256:${want}`);
      }
    }
  });

  test("--input auto says what the blob was (gzip and zstd by magic, else tar) and gives the same tree", () => {
    const tar = new TarWriter().file("x/y", "auto").end();
    for (const kind of ["gzip", "zstd", "tar"]) {
      const [d, c] = fresh();
      const blob = packed(kind, tar);
      const j = ok(unpack(d, blob, { args: ["--input", "auto", "--blob", join(c, "blob")] })) as Decoded & { input: string };
      expect(j.input).toBe(kind);
      expect(j.diff_id).toBe(`sha256:${sha256(tar)}`);
      expect(Buffer.from(blob).equals(readFileSync(join(c, "blob")))).toBe(true);
      expect(readFileSync(join(d, "x/y"), "utf8")).toBe("auto");
    }
    // shorter than any magic number: a (truncated) tar
    const [d] = fresh();
    refused(unpack(d, new Uint8Array([0x1f]), { args: ["--input", "auto"] }), /truncated tar stream/);
  });

  test("9 MiB of random data, gzip'd, through a pipe and from a file: the same tree, blob and diff id", async () => {
    const rnd = new Uint8Array(9 << 20);
    for (let i = 0; i < rnd.length; i += 65536) crypto.getRandomValues(rnd.subarray(i, i + 65536));
    const tar = new TarWriter().file("small", "s").file("random.bin", rnd).end();
    const gz = gzip(tar);
    for (const piped of [false, true]) {
      const [d, c] = fresh();
      const args = ["--input", "auto", "--blob", join(c, "blob")];
      const j = ok(piped ? await unpackPiped(d, gz, { args }) : unpack(d, gz, { args })) as Decoded;
      expect(j.diff_id).toBe(`sha256:${sha256(tar)}`);
      expect(j.input_bytes).toBe(gz.length);
      expect(sha256(readFileSync(join(d, "random.bin")))).toBe(sha256(rnd));
      expect(Buffer.from(gz).equals(readFileSync(join(c, "blob")))).toBe(true);
    }
    const [d] = fresh();
    refused(unpack(d, gz.subarray(0, gz.length - 100), { args: ["--input", "gzip"] }), /truncated gzip stream/);
  });

  test("gzip members one after another are one stream (as Go's reader)", () => {
    const a = new TarWriter().file("a", "aaa").end(true);
    const b = new TarWriter().file("b", "bbb").end();
    const [d, c] = fresh();
    const j = ok(unpack(d, concat([gzip(a), gzip(b)]), { args: ["--input", "gzip", "--blob", join(c, "blob")] })) as Decoded;
    expect(j.diff_id).toBe(`sha256:${sha256(concat([a, b]))}`);
    expect(tree(d)).toEqual(["a", "b"]);
  });

  test("bad and truncated compressed data, garbage after the stream: one line each, no success", () => {
    const tar = tarOf();
    const gz = gzip(tar);
    const zs = zstdOf(tar);
    const cases: [string, Uint8Array, RegExp][] = [
      ["gzip", gz.subarray(0, gz.length >> 1), /^tspod-rt: unpack: layer blob: truncated gzip stream$/],
      ["gzip", concat([gz, new TextEncoder().encode("trailing garbage")]), /^tspod-rt: unpack: layer blob: bad gzip data/],
      ["gzip", tar, /^tspod-rt: unpack: layer blob: bad gzip data/],
      ["gzip", new Uint8Array(0), /empty gzip stream/],
      ["zstd", zs.subarray(0, zs.length >> 1), /^tspod-rt: unpack: layer blob: truncated zstd stream$/],
      ["zstd", gz, /^tspod-rt: unpack: layer blob: bad zstd data/],
    ];
    for (const [kind, input, why] of cases) {
      const [d] = fresh();
      refused(unpack(d, input, { args: ["--input", kind] }), why);
    }
    const [d] = fresh();
    refused(unpack(d, gz, { args: ["--input", "lz4"] }), /unknown --input/);
    const p = Bun.spawnSync([RT, "unpack", "--blob", "/tmp/x", d], { stdin: gz, stderr: "pipe" });
    expect(p.exitCode).toBe(125); // --blob only with --input
  });

  test("the blob file is never overwritten: an existing name is an error", () => {
    const [d, c] = fresh();
    writeFileSync(join(c, "blob"), "keep");
    refused(unpack(d, gzip(new TarWriter().end()), { args: ["--input", "gzip", "--blob", join(c, "blob")] }), /create blob file: File exists/);
    expect(readFileSync(join(c, "blob"), "utf8")).toBe("keep");
  });
});
