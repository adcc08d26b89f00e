// A container's changes as a layer tar (`tspod-rt diff-tar`, native/difftar.c):
// an overlay upper directory as it is (whiteout devices -> .wh. entries, opaque
// directories -> .wh..wh..opq), or a whole tree compared with layers (--lower).
// Read back with Python's tarfile (an independent reader: PAX records, xattrs,
// owners) and GNU tar. Trees are built by hand, as root.
// Build first: `bun run build` (or point TSPOD_RT at another build).
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const TOP = resolve(import.meta.dir, "../..");
const RT = process.env.TSPOD_RT ?? join(TOP, "native/out/tspod-rt");
const tmp = mkdtempSync("/tmp/tspod-difftar-test-");
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
const fresh = (what: string) => {
  const d = join(tmp, `${what}-${n++}`);
  mkdirSync(d, { recursive: true });
  return d;
};

function must(argv: string[]): Buffer {
  const r = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: exit ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

function setx(path: string, name: string, value: string): void {
  must(["python3", "-c", "import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)", path, name, value]);
}

const whiteout = (path: string) => must(["mknod", path, "c", "0", "0"]);

/** diff-tar's tar of dir (against lowers, top first). */
function diffTar(dir: string, lowers: string[] = []): Buffer {
  return must([RT, "diff-tar", ...lowers.flatMap((l) => ["--lower", l]), dir]);
}

interface Entry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  link: string;
  mtime: number;
  xattrs: Record<string, string>;
  data: string;
}

/** The tar's entries as Python's tarfile reads them. */
function entries(tar: Buffer): Entry[] {
  const f = join(tmp, `t-${n++}.tar`);
  writeFileSync(f, tar);
  const py = `
import tarfile, json, sys
out = []
for m in tarfile.open(sys.argv[1]):
    x = {k[13:]: v for k, v in m.pax_headers.items() if k.startswith("SCHILY.xattr.")}
    t = tarfile.open(sys.argv[1])
    data = t.extractfile(m.name).read().decode("latin1") if m.isreg() else ""
    out.append(dict(name=m.name, type=m.type.decode(), mode=m.mode, uid=m.uid, gid=m.gid, size=m.size, link=m.linkname, mtime=int(m.mtime), xattrs=x, data=data))
print(json.dumps(out))`;
  return JSON.parse(must(["python3", "-c", py, f]).toString());
}

const names = (es: Entry[]) => es.map((e) => e.name);

describe("diff-tar: an overlay upper directory", () => {
  test("every entry, in name order, with owners, modes, times, data; whiteouts and opaque dirs as .wh. entries", () => {
    const u = fresh("upper");
    mkdirSync(join(u, "etc"));
    writeFileSync(join(u, "etc/hello"), "hi\n");
    chownSync(join(u, "etc/hello"), 1234, 5678);
    chmodSync(join(u, "etc/hello"), 0o4755); // (after chown, which clears setuid)
    utimesSync(join(u, "etc/hello"), 1700000000, 1700000000);
    whiteout(join(u, "etc/group"));
    mkdirSync(join(u, "home/new"), { recursive: true });
    setx(join(u, "home"), "trusted.overlay.opaque", "y");
    mkdirSync(join(u, "x"));
    linkSync(join(u, "etc/hello"), join(u, "x/hl"));
    symlinkSync("/etc/hello", join(u, "x/l"));
    symlinkSync("/", join(u, "x/root")); // never followed
    must(["mkfifo", join(u, "x/fifo")]);
    const es = entries(diffTar(u));
    expect(names(es)).toEqual(["etc", "etc/.wh.group", "etc/hello", "home", "home/.wh..wh..opq", "home/new", "x", "x/fifo", "x/hl", "x/l", "x/root"]);
    const by = (nm: string) => es.find((e) => e.name === nm)!;
    expect(by("etc/hello")).toMatchObject({ type: "0", mode: 0o4755, uid: 1234, gid: 5678, size: 3, mtime: 1700000000, data: "hi\n" });
    expect(by("etc/.wh.group")).toMatchObject({ type: "0", size: 0, mode: 0 });
    expect(by("x/hl")).toMatchObject({ type: "1", link: "etc/hello" });
    expect(by("x/l")).toMatchObject({ type: "2", link: "/etc/hello" });
    expect(by("x/root")).toMatchObject({ type: "2", link: "/" });
    expect(by("x/fifo").type).toBe("6");
    expect(by("home").type).toBe("5");
    // overlay's own attribute is not part of the layer
    expect(by("home").xattrs).toEqual({});
  });

  test("PAX where ustar cannot say it: long names and link targets, big ids; xattrs as SCHILY.xattr; the same tree gives the same bytes", () => {
    const u = fresh("upper");
    const long = `d/${"a".repeat(90)}/${"b".repeat(90)}`;
    mkdirSync(join(u, long), { recursive: true });
    writeFileSync(join(u, long, "file"), "x");
    symlinkSync(`/${"t".repeat(150)}`, join(u, "longlink"));
    writeFileSync(join(u, "big-ids"), "");
    chownSync(join(u, "big-ids"), 3_000_000, 4_000_000);
    writeFileSync(join(u, "caps"), "");
    setx(join(u, "caps"), "user.note", "hello there");
    setx(join(u, "caps"), "user.overlay.origin", "forged");
    writeFileSync(join(u, "old"), "");
    must(["touch", "-h", "-d", "1960-06-01 00:00:00Z", join(u, "old")]);
    writeFileSync(join(u, "future"), "");
    must(["touch", "-h", "-d", "2300-01-01 00:00:00Z", join(u, "future")]);
    const tar = diffTar(u);
    const es = entries(tar);
    const by = (nm: string) => es.find((e) => e.name === nm)!;
    expect(by(`${long}/file`).data).toBe("x");
    expect(by("longlink").link).toBe(`/${"t".repeat(150)}`);
    expect(by("big-ids")).toMatchObject({ uid: 3_000_000, gid: 4_000_000 });
    expect(by("caps").xattrs).toEqual({ "user.note": "hello there" });
    // times the header cannot hold go as PAX mtime records
    expect(by("old").mtime).toBe(Date.UTC(1960, 5, 1) / 1000);
    expect(by("future").mtime).toBe(Date.UTC(2300, 0, 1) / 1000);
    expect(Buffer.compare(diffTar(u), tar)).toBe(0);
    // GNU tar reads it too
    const f = join(tmp, "gnu.tar");
    writeFileSync(f, tar);
    expect(must(["tar", "-tf", f]).toString()).toContain(`${long}/file`);
  });

  test("--gzip FILE: the same tar, gzipped in blocks on several threads into one stream; the summary's digests are the tar's and the file's", () => {
    const u = fresh("upper");
    // ~1.5 MB: a dozen 128 KiB blocks, some compressible, some not
    writeFileSync(join(u, "random"), Buffer.from(Array.from({ length: 600_000 }, (_, i) => (i * 7919 + (i >> 7) * 104729) % 251)));
    writeFileSync(join(u, "text"), "the quick brown fox jumps over the lazy dog\n".repeat(20_000));
    writeFileSync(join(u, "small"), "s");
    const tar = diffTar(u);
    const gz = join(tmp, `layer-${n++}.gz`);
    const r = Bun.spawnSync([RT, "diff-tar", "--gzip", gz, u], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(0);
    const sum = JSON.parse(r.stdout.toString());
    const file = readFileSync(gz);
    const sha = (b: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;
    expect(sum).toEqual({ entries: 3, tar_bytes: tar.length, diff_id: sha(tar), digest: sha(file), size: file.length });
    // an independent reader: GNU gzip checks the CRC and the length
    must(["gzip", "-t", gz]);
    expect(Buffer.compare(Buffer.from(Bun.gunzipSync(file)), tar)).toBe(0);
    expect(file.length).toBeLessThan(tar.length / 2);
    // the same tree, the same bytes; an existing FILE is not overwritten
    const again = Bun.spawnSync([RT, "diff-tar", "--gzip", gz, u], { stdout: "pipe", stderr: "pipe" });
    expect(again.exitCode).toBe(1);
    expect(again.stderr.toString()).toMatch(/create .*: File exists/);
    const gz2 = join(tmp, `layer-${n++}.gz`);
    must([RT, "diff-tar", "--gzip", gz2, u]);
    expect(Buffer.compare(readFileSync(gz2), file)).toBe(0);
  });

  test("an upper written with redirect_dir or metacopy on (content in the lower layers): refused, not a layer without it", () => {
    for (const x of ["trusted.overlay.redirect", "trusted.overlay.metacopy", "user.overlay.redirect"]) {
      const u = fresh("upper");
      mkdirSync(join(u, "moved"));
      setx(join(u, "moved"), x, "/orig");
      const r = Bun.spawnSync([RT, "diff-tar", u], { stdout: "pipe", stderr: "pipe" });
      expect(r.exitCode).toBe(1);
      expect(r.stderr.toString().trim()).toMatch(/^tspod-rt: diff-tar: .*\/moved: written by overlayfs with redirect_dir or metacopy/);
    }
  });

  test("a missing directory: one clear line, exit 1, nothing on stdout", () => {
    const r = Bun.spawnSync([RT, "diff-tar", join(tmp, "nope")], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(1);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr.toString().trim()).toMatch(/^tspod-rt: diff-tar: \/tmp\/.*\/nope: open: No such file or directory$/);
  });
});

describe("diff-tar --lower: a whole tree against layers", () => {
  /** Two layers (top first: l2 over l1) and a copy that changed a few things. */
  function setup() {
    const l1 = fresh("l1");
    const l2 = fresh("l2");
    const t = fresh("tree");
    for (const d of [l1, t]) {
      mkdirSync(join(d, "etc"));
      mkdirSync(join(d, "opq/old"), { recursive: true });
      writeFileSync(join(d, "etc/keep"), "keep");
      writeFileSync(join(d, "etc/change"), "v1");
      writeFileSync(join(d, "etc/gone"), "g");
      writeFileSync(join(d, "etc/hidden"), "h");
      symlinkSync("a", join(d, "etc/link"));
    }
    // l2: removes etc/hidden (its whiteout) and makes opq/ opaque with new content
    mkdirSync(join(l2, "etc"));
    whiteout(join(l2, "etc/hidden"));
    mkdirSync(join(l2, "opq/fresh"), { recursive: true });
    setx(join(l2, "opq"), "trusted.overlay.opaque", "y");
    rmSync(join(t, "etc/hidden"));
    rmSync(join(t, "opq/old"), { recursive: true });
    mkdirSync(join(t, "opq/fresh"));
    // the same times and owners as in the layers: the copy keeps them (copy-layers does)
    const same = (rel: string, from: string) => must(["touch", "-h", "-r", join(from, rel), join(t, rel)]);
    for (const r of ["etc/keep", "etc/change", "etc/gone", "etc/link"]) same(r, l1);
    for (const r of ["etc", "opq"]) same(r, l2);
    same("opq/fresh", l2);
    same(".", l1);
    return { l1, l2, t, same };
  }

  test("nothing changed: nothing written", () => {
    const { l1, l2, t } = setup();
    expect(entries(diffTar(t, [l2, l1]))).toEqual([]);
  });

  test("changed (size, time, mode, owner, link target), new and removed entries; the layers' own whiteouts and opaque dirs are respected", () => {
    const { l1, l2, t, same } = setup();
    writeFileSync(join(t, "etc/change"), "version 2");
    rmSync(join(t, "etc/gone"));
    writeFileSync(join(t, "etc/new"), "n");
    rmSync(join(t, "etc/link"));
    symlinkSync("b", join(t, "etc/link"));
    same("etc", l2);
    const es = entries(diffTar(t, [l2, l1]));
    // etc/hidden was hidden by l2 already; opq/old was below l2's opaque opq/: neither comes back as a whiteout
    expect(names(es).sort()).toEqual(["etc/.wh.gone", "etc/change", "etc/link", "etc/new"]);
    expect(es.find((e) => e.name === "etc/change")!.data).toBe("version 2");
    chmodSync(join(t, "etc/keep"), 0o600);
    expect(names(entries(diffTar(t, [l2, l1])))).toContain("etc/keep");
  });

  test("a directory where the layers have a file: written with everything in it", () => {
    const { l1, l2, t } = setup();
    rmSync(join(t, "etc/keep"));
    mkdirSync(join(t, "etc/keep"));
    writeFileSync(join(t, "etc/keep/inside"), "i");
    const got = names(entries(diffTar(t, [l2, l1])));
    expect(got).toContain("etc/keep");
    expect(got).toContain("etc/keep/inside");
  });
});
