// Pull: resolve a reference, fetch manifest (choosing the platform from an
// index), config and layers; each layer is streamed once: download -> digest
// -> native helper, which keeps the compressed bytes (for a byte-identical
// push), decompresses, digests the tar (the diff id) and unpacks it. Layers are
// fetched in parallel (bounded).
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../context.ts";
import { log, longRunning, trace } from "../context.ts";
import { TspodError } from "../errors.ts";
import { holdingBlobs, onInterrupt } from "./hold.ts";
import { Store, type Descriptor, type ImageRecord, hexOf } from "../storage/store.ts";
import { Registry, type Credentials } from "./registry.ts";
import { refString, type Reference } from "./reference.ts";
import { loadRegistriesConf, recordShortNameAlias, resolveShortName, registryFor } from "./registries.ts";
import { parseManifest, selectManifest, hostPlatform, parsePlatform, sha256Digest, verifyDigest, layerCompression } from "./manifest.ts";
import { getCredentials } from "./auth.ts";
import { helperPath } from "../sys/native.ts";
import { mapArgs } from "../sys/idmap.ts";
import { preloadLibc } from "../sys/libc.ts";

export type PullEvent =
  | { type: "trying"; ref: string }
  | { type: "blob-start"; digest: string; size: number; cached: boolean }
  | { type: "blob-progress"; digest: string; done: number; size: number }
  | { type: "blob-done"; digest: string; size: number; cached: boolean }
  | { type: "config"; digest: string }
  | { type: "manifest" };

export interface PullOptions {
  platform?: string;
  tlsVerify?: boolean;
  creds?: Credentials;
  /** --authfile: the only credentials file read */
  authFile?: string;
  /** --cert-dir: the registry's CA certificates */
  certDir?: string;
  onEvent?: (e: PullEvent) => void;
  /** parallel layer downloads */
  jobs?: number;
}

export interface PullResult {
  image: ImageRecord;
  ref: Reference;
}

/** Runs fn over items with at most n in flight; the first failure rejects. */
async function bounded<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++];
      try {
        await fn(item);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker));
  if (failed !== undefined) throw failed;
}


/**
 * short-name-mode = "enforcing" with several candidates: Podman's prompt, as a
 * numbered list on the terminal. Without a terminal on stdin and stdout there
 * is nobody to ask: an error, as Podman says it.
 */
async function pickCandidate(candidates: Reference[]): Promise<Reference> {
  const { isatty } = require("node:tty") as typeof import("node:tty");
  if (!isatty(0) || !isatty(1)) throw new TspodError("short-name resolution enforced but cannot prompt without a TTY");
  const list = candidates.map((c, i) => `  ${i + 1}. ${refString(c)}`).join("\n");
  writeSync(1, `? Please select an image:\n${list}\nSelect [1-${candidates.length}]: `);
  const line = (await (await import("../cli/prompt.ts")).readLine()).trim();
  const i = Number(line);
  if (!Number.isInteger(i) || i < 1 || i > candidates.length) throw new TspodError(`short-name resolution: no image selected${line ? ` ("${line}")` : ""}`);
  return candidates[i - 1]!;
}

/** The helper's TSPOD_TRACE lines (`[rt EPOCH_MS] what`) shown on our time line; the rest returned. */
function helperTrace(stderr: string, layer: string): string {
  if (!stderr.includes("[rt ")) return stderr;
  const rest: string[] = [];
  for (const line of stderr.split("\n")) {
    const m = /^\[rt ([\d.]+)\] (.*)$/.exec(line);
    if (m) trace(`layer ${layer}: helper ${m[2]} at ${(Number(m[1]) - performance.timeOrigin).toFixed(1)}ms`);
    else rest.push(line);
  }
  return rest.join("\n");
}

/** The whole chunk into fd (a regular file: short writes only on errors). */
function writeAllSync(fd: number, chunk: Uint8Array, path: string): void {
  try {
    for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off);
  } catch (e: any) {
    throw new TspodError(`writing ${path}: ${e?.message ?? e}`);
  }
}

/** A running `tspod-rt unpack` and the temp layer dir (and blob file) it writes. */
interface Unpacker {
  child: Bun.Subprocess<"pipe", "pipe", "pipe">;
  out: Promise<string>;
  err: Promise<string>;
  layer: string;
  blob?: string;
}

export class Puller {
  private store: Store;
  /** A helper started while the manifest is on its way (input auto): the first layer takes it. */
  private spare: Unpacker | undefined;
  constructor(private ctx: Context) {
    this.store = new Store(ctx);
  }

  /** Start an unpack helper into a new tmp/layer-NAME/diff, keeping the blob in a new tmp/blob-NAME if asked. */
  private startUnpacker(input: string, keepBlob: boolean): Unpacker {
    const store = this.store;
    const helper = helperPath(); // first: it may refuse (a bad runtime directory) before anything is made
    store.spreadTemp();
    const layer = store.tempPath("layer");
    const blob = keepBlob ? store.tempPath("blob") : undefined;
    mkdirSync(`${layer}/diff`, { recursive: true, mode: 0o755 });
    const c = Bun.spawn([helper, "unpack", ...mapArgs(), "--input", input, ...(blob ? ["--blob", blob] : []), `${layer}/diff`], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
    this.running.add(c);
    c.exited.then(() => this.running.delete(c));
    return { child: c, out: new Response(c.stdout).text(), err: new Response(c.stderr).text(), layer, blob };
  }

  /** Stop a helper and remove what it made (nothing was committed from it). */
  private async discardUnpacker(u: Unpacker): Promise<void> {
    if (u.child.exitCode === null && u.child.signalCode === null) u.child.kill("SIGKILL");
    await u.child.exited;
    if (u.blob) rmSync(u.blob, { force: true });
    try {
      this.store.removeTree(u.layer);
    } catch {}
  }

  async pull(name: string, opts: PullOptions = {}): Promise<PullResult> {
    this.store.cleanTemp();
    const conf = loadRegistriesConf();
    let candidates = resolveShortName(name, conf);
    // Several search registries and short-name-mode = "enforcing": the user picks
    // one (recorded as an alias once pulled), or, with nobody to ask, it fails.
    const picked = candidates.length > 1 && conf.shortNameMode === "enforcing";
    if (picked) candidates = [await pickCandidate(candidates)];
    const failures: { ref: Reference; err: unknown }[] = [];
    const stop = this.onInterrupt();
    try {
      // A short name tries each search registry in turn, whatever went wrong
      // with the one before (down, no such image, credentials refused), as
      // Podman does; only when all fail is it an error, naming each one's.
      for (const ref of candidates) {
        opts.onEvent?.({ type: "trying", ref: refString(ref) });
        try {
          const r = await this.pullRef(ref, opts, conf);
          if (picked) recordShortNameAlias(conf, name, ref);
          return r;
        } catch (e) {
          if (candidates.length === 1 || !(e instanceof TspodError)) throw e;
          failures.push({ ref, err: e });
        }
      }
      const each = failures.map((f) => `${refString(f.ref)}: ${(f.err as Error).message.replace(`${refString(f.ref)}: `, "")}`);
      throw new TspodError(`${name}: not pulled from any of the ${failures.length} search registries (${each.join("; ")})`);
    } finally {
      stop();
    }
  }

  /** Helpers running now (the spare one and the layers'), killed on an interrupt. */
  private running = new Set<Bun.Subprocess>();

  /** Ctrl-C, SIGTERM or SIGHUP in the middle of a pull: the helpers killed, temp files removed (onInterrupt). */
  private onInterrupt(): () => void {
    return onInterrupt(this.store, () => {
      for (const c of this.running) c.kill("SIGKILL");
    });
  }

  /** Try the mirrors registries.conf lists, then the primary location. */
  private async pullRef(ref: Reference, opts: PullOptions, conf: ReturnType<typeof loadRegistriesConf>): Promise<PullResult> {
    const reg = registryFor(ref, conf);
    let lastErr: unknown;
    for (const ep of reg.endpoints) {
      try {
        return await this.pullFrom(ref, ep.reference, opts.tlsVerify ?? !ep.insecure, opts);
      } catch (e) {
        lastErr = e;
        if (!ep.mirror) throw e;
        log("info", `mirror ${ep.reference.registry} failed: ${(e as Error).message}`);
      }
    }
    throw lastErr;
  }

  private async pullFrom(ref: Reference, src: Reference, tlsVerify: boolean, opts: PullOptions): Promise<PullResult> {
    const creds = opts.creds ?? getCredentials(`${src.registry}/${src.repository}`, { authFile: opts.authFile });
    const client = new Registry(src.registry, { tlsVerify, creds, certDir: opts.certDir });
    const repo = src.repository;
    const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();

    trace("pull: start");
    const topP = client.getManifest(repo, ref.digest ?? ref.tag ?? "latest");
    topP.catch(() => {}); // awaited below
    // While the registry answers (once the request is on its way: fetch hands
    // it to Bun's HTTP thread, and setImmediate runs after the microtasks that
    // get it there): libc's symbols are loaded for the store's locks, and the
    // first layer's helper starts, so that its user namespace is ready when the
    // layer comes (before the manifest says whether one is needed, and which).
    let earlyErr: unknown;
    const early = setImmediate(() => {
      try {
        preloadLibc();
        // Not for an image stored already under this name (or digest): such a
        // pull most likely needs no layer (a layer it does need gets a helper then).
        if (!this.stored(ref)) {
          this.spare ??= this.startUnpacker("auto", true);
          trace("pull: spare helper started");
        }
      } catch (e) {
        earlyErr = e; // thrown below, here it would be an uncaught exception
      }
    });
    const stopWaiting = () => clearImmediate(early);
    try {
      await topP.catch(() => {}); // a failure is pullManifest's to report
      stopWaiting();
      if (earlyErr !== undefined) throw earlyErr;
      return await this.holdingLayers(() => this.pullManifest(ref, client, repo, platform, topP, opts));
    } finally {
      stopWaiting();
      const spare = this.spare;
      this.spare = undefined;
      if (spare) await this.discardUnpacker(spare);
    }
  }

  /** An image record has this reference's name (or, for a digest, that manifest digest). */
  private stored(ref: Reference): boolean {
    const name = `${ref.registry}/${ref.repository}`;
    return this.store.images().some((r) => (ref.digest ? r.repoDigests.includes(`${name}@${ref.digest}`) : r.names.includes(`${name}:${ref.tag ?? "latest"}`)));
  }

  /**
   * Layers and blobs already stored are used, not fetched: garbage collection
   * (rmi, image prune) must not remove them until the image that uses them is
   * saved (hold.ts).
   */
  private holdingLayers<T>(fn: () => Promise<T>): Promise<T> {
    return holdingBlobs(this.ctx, this.store, fn);
  }

  private async pullManifest(ref: Reference, client: Registry, repo: string, platform: ReturnType<typeof hostPlatform>, topP: ReturnType<Registry["getManifest"]>, opts: PullOptions): Promise<PullResult> {
    const top = await topP;
    const topDigest = sha256Digest(top.bytes);
    if (ref.digest) verifyDigest(top.bytes, ref.digest);
    else if (top.digest && top.digest.startsWith("sha256:") && top.digest !== topDigest) {
      throw new TspodError(`manifest digest mismatch: registry says ${top.digest}, content is ${topDigest}`);
    }
    let parsed = parseManifest(top.bytes, top.mediaType);
    let manifestBytes = top.bytes;
    let manifestDigest = topDigest;
    let manifestType = parsed.mediaType || top.mediaType;
    let index: Descriptor | undefined;
    if (parsed.kind === "index") {
      index = { mediaType: manifestType, digest: topDigest, size: top.bytes.length };
      const chosen = selectManifest(parsed, platform);
      const m = await client.getManifest(repo, chosen.digest);
      verifyDigest(m.bytes, chosen.digest);
      parsed = parseManifest(m.bytes, m.mediaType || chosen.mediaType);
      manifestBytes = m.bytes;
      manifestDigest = chosen.digest;
      manifestType = parsed.mediaType || chosen.mediaType;
      if (parsed.kind !== "image") throw new TspodError(`${refString(ref)}: nested manifest list is not supported`);
    }
    if (parsed.kind !== "image") throw new TspodError(`${refString(ref)}: unexpected manifest`);

    trace("pull: manifest");
    // Config and layers are fetched at once: a layer needs its diff id (from the
    // config) only to check what it unpacked, or, when its blob is stored already,
    // to know whether the layer is too.
    const cfgDesc = parsed.config;
    const configP = (async () => {
      let bytes: Uint8Array;
      if (this.store.hasBlob(cfgDesc.digest)) bytes = this.store.readBlob(cfgDesc.digest);
      else {
        bytes = await client.getBlob(repo, cfgDesc.digest);
        verifyDigest(bytes, cfgDesc.digest);
      }
      const config = JSON.parse(new TextDecoder().decode(bytes));
      const diffIDs: string[] = config?.rootfs?.diff_ids ?? [];
      if (diffIDs.length !== parsed.layers.length) {
        throw new TspodError(`${refString(ref)}: config lists ${diffIDs.length} diff ids for ${parsed.layers.length} layers`);
      }
      if (config.os && platform.os && config.os !== platform.os) {
        throw new TspodError(`${refString(ref)}: image is for ${config.os}, not ${platform.os}`);
      }
      // An architecture other than the one asked for (a single-platform image, or an
      // index that lies): pulled, with Podman's warning.
      if (config.architecture && (config.architecture !== platform.architecture || (platform.variant && config.variant && config.variant !== platform.variant))) {
        const show = (o: string, a: string, v?: string) => [o, a, v].filter(Boolean).join("/");
        log("warn", `image platform (${show(config.os ?? platform.os, config.architecture, config.variant)}) does not match the expected platform (${show(platform.os, platform.architecture, platform.variant)})`);
      }
      trace("pull: config");
      return { bytes, config, diffIDs };
    })();
    let configErr: unknown;
    configP.catch((e) => (configErr = e)); // awaited below; a failure stops the layers
    const layerList = parsed.layers;
    // The config and manifest (and index) blobs are written to temp files as
    // soon as the config is checked, and fsynced on the thread pool while the
    // layers download and unpack: an fsync here takes ~1-5 ms, and now and then
    // 50-70 ms (1 pull in ~40 traced), which then overlaps the download instead
    // of following it. They are put in place with the layers; a pull that fails
    // removes them, leaving the store as it was.
    const staged: { digest: string; tmp: string }[] = [];
    let failed = false;
    const blobsP = configP.then(async (c) => {
      const blobs: [string, Uint8Array][] = [[cfgDesc.digest, c.bytes], [manifestDigest, manifestBytes]];
      if (index) blobs.push([index.digest, top.bytes]);
      const syncs: Promise<void>[] = [];
      for (const [digest, bytes] of blobs) {
        if (failed || this.store.hasBlob(digest)) continue;
        const { tmp, synced } = this.store.stageBlob(bytes);
        staged.push({ digest, tmp });
        syncs.push(synced);
      }
      await Promise.all(syncs);
    });
    blobsP.catch(() => {}); // awaited below
    try {
      await this.pullLayers(client, repo, layerList, configP, () => configErr, opts);
      await blobsP;
    } catch (e) {
      failed = true;
      for (const b of staged) rmSync(b.tmp, { force: true });
      throw e;
    }
    const { bytes: cfgBytes, config, diffIDs } = await configP;
    const layers = layerList.map((l, i) => ({ ...l, diffID: diffIDs[i] as string }));

    trace("pull: layers");
    opts.onEvent?.({ type: "config", digest: cfgDesc.digest });
    opts.onEvent?.({ type: "manifest" });
    staged.forEach((b, i) => this.store.commitBlobFile(b.digest, b.tmp, i === staged.length - 1));

    const id = hexOf(cfgDesc.digest);
    const name = `${ref.registry}/${ref.repository}`;
    // name:tag@digest is the digest's image, whatever the tag names now: not tagged (as Podman)
    const names = !ref.digest ? [`${name}:${ref.tag ?? "latest"}`] : [];
    const digestRefs = names.length ? undefined : [`${name}@${ref.digest}`];
    const manifest = { mediaType: manifestType, digest: manifestDigest, size: manifestBytes.length };
    const now = new Date().toISOString();
    const rec: ImageRecord = {
      id,
      names,
      manifests: [manifest, ...(index ? [index] : [])],
      nameDigests: Object.fromEntries(names.map((n) => [n, manifestDigest])),
      ...(digestRefs ? { digestRefs } : {}),
      repoDigests: [`${name}@${manifestDigest}`, ...(index ? [`${name}@${index.digest}`] : [])],
      manifest,
      index,
      config: { mediaType: cfgDesc.mediaType, digest: cfgDesc.digest, size: cfgBytes.length },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size, diffID: l.diffID })),
      // a config without a creation time: the time it was stored, as Podman shows it (not 1970)
      created: config.created ?? now,
      pulled: now,
      size: layers.reduce((s, l) => s + (this.store.layer(l.diffID)?.size ?? 0), 0),
      os: config.os ?? "linux",
      architecture: config.architecture ?? "",
      variant: config.variant,
    };
    this.store.saveImage(rec);
    trace("pull: saved");
    return { image: this.store.image(id)!, ref };
  }

  /** Every layer of an image, fetched (bounded in parallel) and unpacked. */
  private pullLayers(
    client: Registry,
    repo: string,
    layers: Descriptor[],
    configP: Promise<{ diffIDs: string[] }>,
    configErr: () => unknown,
    opts: PullOptions,
  ): Promise<void> {
    return bounded(
      layers.map((l, i) => ({ l, i })),
      opts.jobs ?? 3,
      ({ l, i }) => this.pullLayer(() => client.blobStream(repo, l.digest, l.size), l, { diffID: () => configP.then((c) => c.diffIDs[i]), failed: configErr }, opts),
    );
  }

  /**
   * Unpack again, from the stored blobs, the layers of an image that are missing
   * or were unpacked with another id map (the user's /etc/subuid range changed):
   * run does this before it uses the image. A blob that is gone means a pull.
   */
  async refreshLayers(image: ImageRecord, opts: PullOptions = {}): Promise<number> {
    const stale = image.layers.filter((l) => !this.store.hasCurrentLayer(l.diffID));
    const name = image.names[0] ?? image.id.slice(0, 12);
    for (const l of stale) {
      if (!this.store.hasBlob(l.digest)) throw new TspodError(`image ${name}: layer ${l.digest.slice(7, 19)} must be unpacked again and its blob is gone: pull the image again`);
    }
    if (!stale.length) return 0;
    await this.holdingLayers(() =>
      bounded(stale, opts.jobs ?? 3, (l) =>
        this.pullLayer(() => Bun.file(this.store.blobPath(l.digest)).stream() as unknown as AsyncIterable<Uint8Array>, l, { diffID: async () => l.diffID, failed: () => undefined }, opts),
      ),
    );
    return stale.length;
  }

  /**
   * One layer: blob kept, content unpacked. diffIDOf gives the layer's diff id
   * once the config is there. A stored blob waits for it (is the layer stored
   * too?); a missing one is fetched and unpacked at once, and the diff id is
   * awaited to check the result (a layer another pull committed meanwhile, or
   * one stored from a blob compressed differently, is dropped at commit). A
   * config that fails stops the download.
   */
  private async pullLayer(
    source: () => AsyncIterable<Uint8Array>,
    l: Descriptor,
    cfg: { diffID: () => Promise<string>; failed: () => unknown },
    opts: PullOptions,
  ): Promise<void> {
    const store = this.store;
    const diffIDOf = cfg.diffID;
    const haveBlob = store.hasBlob(l.digest);
    const haveLayer = haveBlob && store.hasCurrentLayer(await diffIDOf());
    if (haveLayer && haveBlob) {
      opts.onEvent?.({ type: "blob-done", digest: l.digest, size: l.size, cached: true });
      return;
    }
    opts.onEvent?.({ type: "blob-start", digest: l.digest, size: l.size, cached: false });
    const kind = layerCompression(l.mediaType);
    const input = kind === "none" ? "tar" : kind;
    // The request goes out first: a helper started now starts while the registry answers.
    const chunks = source()[Symbol.asyncIterator]();
    let next: Promise<IteratorResult<Uint8Array>> | undefined = chunks.next();
    next.catch(() => {}); // awaited below
    // The blob file is written by the helper while it unpacks, or here when only
    // the blob is missing (a stored blob is not written again; one the spare
    // helper wrote anyway is dropped at commit).
    let u: Unpacker | undefined;
    if (!haveLayer) {
      u = this.spare ?? this.startUnpacker("auto", !haveBlob); // it says what it found; checked below
      this.spare = undefined;
    }
    const tmpLayer = u?.layer;
    const tmpBlob = u ? u.blob : haveBlob ? undefined : store.tempPath("blob");
    const cHash = new Bun.CryptoHasher("sha256");
    let done = 0;
    let lastEmit = 0;
    const onBytes = (n: number) => {
      done += n;
      const now = Date.now();
      if (now - lastEmit > 100) {
        lastEmit = now;
        opts.onEvent?.({ type: "blob-progress", digest: l.digest, done, size: l.size });
      }
    };
    const child = u?.child;
    let blobFd: number | undefined;
    try {
      trace(`layer ${l.digest.slice(7, 19)}: start`);
      // The helper gets the bytes as downloaded: it keeps the blob, decompresses,
      // digests the tar (the diff id) and unpacks it, on its own core. It may fail
      // before the download ends (bad compression, a refused entry); the download
      // still runs to the end so that a blob that is not what the manifest says is
      // reported as a digest mismatch, the real cause, rather than as whatever the
      // garbage broke.
      let sinkErr: unknown;
      const exited = child?.exited ?? Promise.resolve(0);
      if (!u && tmpBlob) blobFd = openSync(tmpBlob, "wx", 0o644);
      // A helper that has ended (or failed) gets nothing more; writes to it throw
      // EPIPE at once, and a flush waiting on a full pipe ends when it exits.
      let sinkOpen = child !== undefined;
      const feed = async (chunk: Uint8Array) => {
        try {
          // a helper that died: what is still buffered fails later (EPIPE), caught here, not unhandled
          const w: unknown = child!.stdin.write(chunk);
          if (w instanceof Promise) w.catch((e) => (sinkErr ??= e));
          const f = child!.stdin.flush();
          if (f instanceof Promise) {
            f.catch((e) => (sinkErr ??= e));
            await Promise.race([f, exited]);
          }
          if (child!.exitCode !== null || child!.signalCode !== null) sinkOpen = false;
        } catch (e) {
          sinkErr ??= e;
          sinkOpen = false;
        }
      };
      try {
        while (next) {
          const r = await next;
          if (r.done) break;
          next = chunks.next();
          next.catch(() => {});
          const chunk = r.value;
          cHash.update(chunk);
          onBytes(chunk.length);
          if (done > 4 << 20) longRunning();
          if (cfg.failed() !== undefined) throw cfg.failed();
          if (done > l.size) throw new TspodError(`layer ${l.digest}: size mismatch: the registry sent more than the ${l.size} bytes the manifest says`);
          if (blobFd !== undefined) writeAllSync(blobFd, chunk, tmpBlob!);
          else if (sinkOpen) await feed(chunk);
        }
      } catch (e) {
        if (next) {
          await next.catch(() => {}); // a generator takes return() only between chunks
          await chunks.return?.(undefined).catch(() => {});
        }
        throw e;
      }
      if (blobFd !== undefined) {
        closeSync(blobFd);
        blobFd = undefined;
      }
      if (sinkOpen) {
        try {
          await child!.stdin.end();
        } catch (e) {
          sinkErr ??= e;
        }
      }
      trace(`layer ${l.digest.slice(7, 19)}: streamed`);
      const code = await exited;
      const unpackOut = (await u?.out) ?? "";
      const unpackErr = helperTrace((await u?.err) ?? "", l.digest.slice(7, 19));
      trace(`layer ${l.digest.slice(7, 19)}: unpacked`);
      const gotDigest = `sha256:${cHash.digest("hex")}`;
      if (gotDigest !== l.digest) throw new TspodError(`layer ${l.digest}: digest mismatch: downloaded content has ${gotDigest}`);
      if (done !== l.size) throw new TspodError(`layer ${l.digest}: size mismatch: expected ${l.size} bytes, got ${done}`);
      if (tmpLayer && code !== 0) {
        const why = unpackErr.trim().split("\n")[0].replace(/^tspod-rt: unpack: /, "");
        if (why) throw new TspodError(`layer ${l.digest}: ${why}`);
        const e: any = sinkErr;
        if (e === undefined || e?.code === "EPIPE") throw new TspodError(`layer ${l.digest}: unpacking failed${code ? ` (exit ${code})` : ""}`);
        throw new TspodError(`layer ${l.digest}: ${e?.message ?? e}`);
      }
      if (tmpLayer) {
        const stats = JSON.parse(unpackOut || "{}");
        if (stats.input !== input) throw new TspodError(`layer ${l.digest}: the blob is ${stats.input === "tar" ? "not compressed" : stats.input} but the manifest says ${l.mediaType}`);
        // Every byte reached the helper (and the blob file): the digest above is the file's.
        if (stats.input_bytes !== done) throw new TspodError(`layer ${l.digest}: unpacking failed: the helper read ${stats.input_bytes} of ${done} bytes`);
        const diffID = await diffIDOf();
        if (stats.diff_id !== diffID) throw new TspodError(`layer ${l.digest}: diff id mismatch: config says ${diffID}, content is ${stats.diff_id}`);
        store.commitLayer(tmpLayer, { diffID, size: stats.tar_bytes ?? 0, entries: stats.entries ?? 0, idmap: store.idmapKey(), created: new Date().toISOString() });
      } else await diffIDOf(); // the config must be good before the blob is kept
      if (tmpBlob) store.commitBlobFile(l.digest, tmpBlob);
      opts.onEvent?.({ type: "blob-done", digest: l.digest, size: l.size, cached: false });
    } catch (e) {
      if (child && child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await child.exited;
      }
      if (blobFd !== undefined) closeSync(blobFd);
      if (tmpBlob) rmSync(tmpBlob, { force: true });
      if (tmpLayer) {
        try {
          store.removeTree(tmpLayer);
        } catch {}
      }
      throw e;
    }
  }
}
