// The image store on disk:
//   blobs/sha256/<hex>       manifests, configs, compressed layers (kept to push back byte-identical)
//   layers/<diffid-hex>/     diff/ (an unpacked layer, overlay whiteout format) + layer.json
//   images/<id>.json         image records (id = config digest hex)
//   tmp/                     in-flight downloads and unpacks, named with the owner's pid
//   locks/                   flock files
// Everything lands by rename, so an interrupted pull leaves only tmp/ entries (and
// `.tmp-*` names of atomic writes beside blobs and images), which the next pull
// removes once their owner is gone.
import { closeSync, constants as fsConstants, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Context } from "../context.ts";
import { log } from "../context.ts";
import { TspodError, NotFoundError } from "../errors.ts";
import { fsyncDir, syncFileAsync, writeFileAtomic, writeJsonAtomic, writeNewFile } from "./atomic.ts";
import { withLockSync } from "./lock.ts";
import { helperPath } from "../sys/native.ts";
import { mapArgs, userNsMaps } from "../sys/idmap.ts";
import { setTopDir } from "../sys/libc.ts";

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface LayerRecord {
  diffID: string;
  /** bytes of the uncompressed layer (the tar), as containers/storage counts a layer's size */
  size: number;
  entries: number;
  /** the uid map the layer was unpacked with */
  idmap: string;
  created: string;
}

export interface ImageRecord {
  id: string;
  names: string[];
  repoDigests: string[];
  /** the manifest pulled last */
  manifest: Descriptor;
  index?: Descriptor;
  /** every manifest (and index) known for this image: the same config can come with several */
  manifests: Descriptor[];
  /** which manifest each name was pulled with, so a push can send it back byte-identical */
  nameDigests: Record<string, string>;
  /**
   * REPO@DIGEST references the image was pulled by (no tag): names too, as
   * containers/storage keeps them, so such an image is not dangling; untagging
   * all names removes them.
   */
  digestRefs?: string[];
  config: Descriptor;
  layers: (Descriptor & { diffID: string })[];
  created: string;
  pulled: string;
  size: number;
  os: string;
  architecture: string;
  variant?: string;
  /** the image a commit made this one from (inspect's Parent) */
  parent?: string;
}

export const hexOf = (digest: string) => digest.slice(digest.indexOf(":") + 1);

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: any) {
    return e.code === "EPERM";
  }
}

export class Store {
  readonly root: string;
  constructor(readonly ctx: Context) {
    this.root = ctx.root;
    for (const d of ["blobs/sha256", "layers", "images", "tmp", "locks"]) mkdirSync(join(this.root, d), { recursive: true, mode: 0o700 });
  }

  // ---- blobs
  blobPath(digest: string): string {
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new TspodError(`unsupported digest ${digest}`);
    return join(this.root, "blobs/sha256", hexOf(digest));
  }
  hasBlob(digest: string): boolean {
    return existsSync(this.blobPath(digest));
  }
  readBlob(digest: string): Uint8Array {
    try {
      return readFileSync(this.blobPath(digest));
    } catch {
      throw new NotFoundError(`blob ${digest} is not in the store`);
    }
  }
  /**
   * Verified bytes into a new temp file that commitBlobFile puts in place once
   * synced is done: written now, fsynced off this thread (a slow fsync must not
   * hold up the pull's events, such as its helpers ending).
   */
  stageBlob(bytes: Uint8Array): { tmp: string; synced: Promise<void> } {
    const tmp = this.tempPath("blob");
    const failed = (e: unknown) => new TspodError(`cannot write ${tmp}: ${(e as Error).message}`);
    try {
      writeNewFile(tmp, bytes, 0o644, false);
    } catch (e) {
      throw failed(e);
    }
    return {
      tmp,
      synced: syncFileAsync(tmp).catch((e) => {
        throw failed(e);
      }),
    };
  }
  /** Move a verified temp file into place (sync: and make the rename durable). */
  commitBlobFile(digest: string, tmp: string, sync = false): void {
    if (this.hasBlob(digest)) rmSync(tmp, { force: true });
    else {
      renameSync(tmp, this.blobPath(digest));
      if (sync) fsyncDir(dirname(this.blobPath(digest)));
    }
  }

  // ---- layers
  layerDir(diffID: string): string {
    return join(this.root, "layers", hexOf(diffID));
  }
  diffPath(diffID: string): string {
    return join(this.layerDir(diffID), "diff");
  }
  layer(diffID: string): LayerRecord | undefined {
    try {
      return JSON.parse(readFileSync(join(this.layerDir(diffID), "layer.json"), "utf8"));
    } catch {
      return undefined;
    }
  }
  hasLayer(diffID: string): boolean {
    return this.layer(diffID) !== undefined;
  }
  /**
   * Present, and unpacked with the id map this user has now: after the user's
   * /etc/subuid range changed, files unpacked before have the wrong owners.
   */
  hasCurrentLayer(diffID: string): boolean {
    const l = this.layer(diffID);
    return l !== undefined && (l.idmap === undefined || l.idmap === this.idmapKey());
  }
  /**
   * Put an unpacked temp layer dir in place; if another process won the race,
   * drop ours. One unpacked with another id map is replaced (and deleted if
   * this user still can: files of ids no longer mapped stay in tmp/).
   */
  commitLayer(tmpDir: string, rec: LayerRecord): void {
    // Not fsynced: the layer's files are not either (as in containers/storage), so
    // a synced layer.json would promise what it cannot. The rename below is what
    // makes the layer appear whole or not at all when a process is killed.
    writeJsonAtomic(join(tmpDir, "layer.json"), rec, 0o644, false);
    const old = this.layer(rec.diffID);
    if (old && old.idmap !== undefined && old.idmap !== rec.idmap) {
      try {
        const stale = this.setAside(this.layerDir(rec.diffID), "stale-layer");
        log("info", `layer ${rec.diffID.slice(7, 19)} was unpacked with another id map (${old.idmap}): replaced`);
        if (stale) this.removeTree(stale);
      } catch (e) {
        log("warn", `layer ${rec.diffID.slice(7, 19)}: the copy unpacked with another id map could not be removed: ${(e as Error).message}`);
      }
    }
    try {
      renameSync(tmpDir, this.layerDir(rec.diffID));
    } catch (e: any) {
      if (e.code !== "ENOTEMPTY" && e.code !== "EEXIST") throw e;
      if (this.hasCurrentLayer(rec.diffID)) return this.removeTree(tmpDir); // another process won the race
      // a directory without a whole layer in it (left by a removal of an older
      // tspod that was interrupted): ours replaces it
      const junk = this.setAside(this.layerDir(rec.diffID), "stale-layer");
      renameSync(tmpDir, this.layerDir(rec.diffID));
      try {
        if (junk) this.removeTree(junk);
      } catch {} // left in tmp/ for a later cleanTemp
    }
  }

  /** A layer dir renamed into tmp/ (gone from layers/ whole, at once): its new path; undefined when there was none. */
  private setAside(dir: string, kind: string): string | undefined {
    const to = this.tempPath(kind);
    try {
      renameSync(dir, to);
      return to;
    } catch (e: any) {
      if (e.code === "ENOENT") return undefined;
      throw e;
    }
  }

  /**
   * Remove layer dirs: each is first renamed into tmp/ (so it is gone whole, at
   * once: a removal interrupted half-way never leaves a layer that looks stored),
   * then deleted; what could not be deleted stays in tmp/ for a later cleanTemp.
   */
  removeLayerDirs(names: string[]): void {
    const moved = names.map((n) => this.setAside(join(this.root, "layers", n), "dead-layer"));
    this.removeTree(...moved.filter((p): p is string => p !== undefined));
  }

  // ---- garbage collection (images.ts collectGarbage): pulls hold gc.lock shared,
  // a collection exclusively; one put off by a running pull leaves gc.pending
  gcLockPath(): string {
    return join(this.root, "locks/gc.lock");
  }
  private gcMarker(): string {
    return join(this.root, "locks/gc.pending");
  }
  gcPending(): boolean {
    return existsSync(this.gcMarker());
  }
  setGcPending(on: boolean): void {
    if (on) closeSync(openSync(this.gcMarker(), "a", 0o600));
    else rmSync(this.gcMarker(), { force: true });
  }

  // ---- temp
  private tempSpread = false;
  /**
   * Layers are unpacked in tmp/ under fresh random names: with tmp/ marked as
   * the top of hierarchies, ext4 puts each one in a block group of its own
   * choosing instead of next to tmp/. Measured on this kind of host (ext4
   * without a journal, where a new inode is never one freed in the last 30 s
   * and skipping those costs a look at each, ~70% of create time in perf):
   * unpacking the 115 MiB Debian layer right after removing one took 2.3-3.0 s
   * next to it, 0.17-0.22 s in a group of its own.
   */
  spreadTemp(): void {
    if (this.tempSpread) return;
    this.tempSpread = true;
    let fd: number | undefined;
    try {
      fd = openSync(join(this.root, "tmp"), fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
      setTopDir(fd);
    } catch {
      // a hint only
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  tempPath(kind: string): string {
    return join(this.root, "tmp", `${kind}-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
  }
  /** Remove leftovers of interrupted operations whose process is gone. */
  cleanTemp(): void {
    let names: string[] = [];
    try {
      names = readdirSync(join(this.root, "tmp"));
    } catch {
      return;
    }
    const stale = names.filter((n) => {
      // KIND-PID-RANDOM (tempPath): the process that made it is gone
      const m = /^[a-z-]+?-(\d+)-[a-z0-9]+$/.exec(n);
      if (m) return !pidAlive(Number(m[1]));
      // trash-ID: a container's files, deleted by its monitor (if the monitor is gone, by us)
      if (/^trash-[a-f0-9]{64}$/.test(n)) {
        let pid = 0;
        try {
          pid = Number(readFileSync(join(this.root, "tmp", n, "monitor.pid"), "utf8").trim());
        } catch {}
        return !(pid > 0 && pidAlive(pid));
      }
      return false;
    });
    if (stale.length) {
      log("debug", `removing ${stale.length} stale temp entries`);
      try {
        this.removeTree(...stale.map((n) => join(this.root, "tmp", n)));
      } catch (e) {
        // (files of ids this user no longer maps: left, said, never in the way)
        log("debug", `stale temp entries: ${(e as Error).message}`);
      }
    }
    // Atomic writes (atomic.ts tempName: `.tmp-<name>-<pid>-...`) of a process killed mid-write.
    for (const d of ["blobs/sha256", "images"]) {
      let entries: string[] = [];
      try {
        entries = readdirSync(join(this.root, d));
      } catch {
        continue;
      }
      for (const n of entries) {
        const m = /^\.tmp-[^-]*-(\d+)-/.exec(n);
        if (m && !pidAlive(Number(m[1]))) rmSync(join(this.root, d, n), { force: true });
      }
    }
  }
  /** rm -rf for trees that may hold files owned by subordinate ids (done inside the user namespace). */
  removeTree(...paths: string[]): void {
    if (!paths.length) return;
    if (this.ctx.uid === 0) {
      for (const p of paths) {
        try {
          rmSync(p, { recursive: true, force: true });
        } catch (e) {
          throw new TspodError(`removing ${p}: ${(e as Error).message}`);
        }
      }
      return;
    }
    // Most trees (a container's upper dir) hold only the user's own files: try
    // without a user namespace first, which costs no newuidmap/newgidmap runs.
    const left = paths.filter((p) => {
      try {
        rmSync(p, { recursive: true, force: true });
        return false;
      } catch {
        return true;
      }
    });
    if (!left.length) return;
    paths = left;
    const r = Bun.spawnSync([helperPath(), "rmtree", ...mapArgs(), ...paths], { stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) {
      const why = r.stderr.toString().trim() || (r.signalCode ? `the rmtree helper was killed (${r.signalCode})` : `the rmtree helper failed (exit ${r.exitCode})`);
      throw new TspodError(`removing ${paths.join(" ")}: ${why}`);
    }
  }
  idmapKey(): string {
    const m = userNsMaps();
    return m.uidSpec ?? (this.ctx.uid === 0 ? "host" : `single:${this.ctx.uid}`);
  }

  // ---- images
  /** Write a record; name -> manifest entries follow the names. */
  private writeImage(rec: ImageRecord): void {
    const nd = rec.nameDigests ?? {};
    rec.nameDigests = Object.fromEntries(Object.entries(nd).filter(([n]) => rec.names.includes(n)));
    writeJsonAtomic(this.imagePath(rec.id), rec);
  }
  private imagePath(id: string): string {
    return join(this.root, "images", `${id}.json`);
  }
  private lockPath(): string {
    return join(this.root, "locks/images.lock");
  }
  images(): ImageRecord[] {
    const out: ImageRecord[] = [];
    let names: string[] = [];
    try {
      names = readdirSync(join(this.root, "images"));
    } catch (e: any) {
      // none pulled yet; anything else (EACCES...) is an error, not "no images"
      if (e?.code !== "ENOENT") throw new TspodError(`reading the images in ${join(this.root, "images")}: ${e?.code === "EACCES" ? "permission denied" : (e?.message ?? e)}`);
    }
    for (const n of names) {
      if (!n.endsWith(".json") || n.startsWith(".")) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.root, "images", n), "utf8")));
      } catch {}
    }
    return out.sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  }
  image(id: string): ImageRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.imagePath(id), "utf8"));
    } catch {
      return undefined;
    }
  }
  /** Save an image record; names it takes are removed from any other image. */
  saveImage(rec: ImageRecord): void {
    withLockSync(this.lockPath(), () => {
      const old = this.image(rec.id);
      if (old) {
        rec.names = [...new Set([...old.names, ...rec.names])];
        rec.repoDigests = [...new Set([...old.repoDigests, ...rec.repoDigests])];
        const seen = new Set(rec.manifests.map((m) => m.digest));
        rec.manifests = [...rec.manifests, ...(old.manifests ?? []).filter((m) => !seen.has(m.digest))];
        rec.nameDigests = { ...(old.nameDigests ?? {}), ...rec.nameDigests };
        if (old.digestRefs?.length || rec.digestRefs?.length) rec.digestRefs = [...new Set([...(old.digestRefs ?? []), ...(rec.digestRefs ?? [])])];
        // A pull that changed nothing (but the time) leaves the record as it is:
        // no write, no fsyncs, no look at the other images (they cannot have its names).
        const same = (r: ImageRecord) => JSON.stringify({ ...r, pulled: "" });
        if (same(rec) === same(old)) return;
      }
      this.takeNames(rec.id, rec.names);
      this.writeImage(rec);
    });
  }
  private takeNames(id: string, names: string[]): void {
    for (const other of this.images()) {
      if (other.id === id) continue;
      const left = other.names.filter((n) => !names.includes(n));
      if (left.length !== other.names.length) this.writeImage({ ...other, names: left });
    }
  }
  /** Change one image's names under the lock (tag/untag). */
  updateImage(id: string, fn: (rec: ImageRecord) => ImageRecord): ImageRecord {
    return withLockSync(this.lockPath(), () => {
      const rec = this.image(id);
      if (!rec) throw new NotFoundError(`image ${id} not known`);
      const next = fn(rec);
      this.takeNames(id, next.names);
      this.writeImage(next);
      return next;
    });
  }
  deleteImageRecord(id: string): void {
    withLockSync(this.lockPath(), () => rmSync(this.imagePath(id), { force: true }));
  }
  withImagesLock<T>(fn: () => T): T {
    return withLockSync(this.lockPath(), fn);
  }
  blobSize(digest: string): number {
    try {
      return statSync(this.blobPath(digest)).size;
    } catch {
      return 0;
    }
  }
}
