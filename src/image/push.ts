// Push: send a stored image to a registry as it was pulled. The store keeps
// every blob as the registry sent it (layers compressed), so the manifest and
// blobs that arrive are byte-identical to the ones pulled, and the image has the
// same manifest digest wherever it is pushed (Podman recompresses its layers and
// gets a new one). Distribution spec: HEAD each blob; one the destination lacks
// is mounted from another repository of the same registry when the image came
// from there, else uploaded (POST, then one PUT with the whole blob); then the
// config, then the manifest under its tag.
import { closeSync, openSync, readSync, fstatSync } from "node:fs";
import type { Context } from "../context.ts";
import { log, trace } from "../context.ts";
import { TspodError, UsageError } from "../errors.ts";
import { Store, type Descriptor, type ImageRecord } from "../storage/store.ts";
import { Images } from "./images.ts";
import { getCredentials } from "./auth.ts";
import { Registry, RegistryError, RETRY_CODES, RETRY_STATUS, type Credentials } from "./registry.ts";
import { findRegistry, loadRegistriesConf } from "./registries.ts";
import { parseReference, refName, refString, tryParseReference, withDefaultTag, type Reference } from "./reference.ts";
import { holdingBlobs } from "./hold.ts";
import {
  MEDIA_DOCKER_CONFIG,
  MEDIA_DOCKER_FOREIGN_LAYER_GZIP,
  MEDIA_DOCKER_LAYER,
  MEDIA_DOCKER_LAYER_GZIP,
  MEDIA_DOCKER_MANIFEST,
  MEDIA_OCI_CONFIG,
  MEDIA_OCI_LAYER,
  MEDIA_OCI_LAYER_GZIP,
  MEDIA_OCI_LAYER_ND_GZIP,
  MEDIA_OCI_MANIFEST,
  isForeignLayer,
  layerCompression,
  sha256Digest,
} from "./manifest.ts";
import type { PullEvent } from "./pull.ts";

export type ManifestFormat = "oci" | "v2s2";

export interface PushOptions {
  tlsVerify?: boolean;
  creds?: Credentials;
  /** --authfile: the only credentials file read */
  authFile?: string;
  certDir?: string;
  /** the destination's manifest type; default: the stored one's */
  format?: ManifestFormat;
  onEvent?: (e: PullEvent) => void;
  /** blobs uploaded at once */
  jobs?: number;
}

export interface PushResult {
  /** where it went: REGISTRY/REPO:TAG */
  ref: string;
  /** the manifest's digest there */
  digest: string;
}

/** Podman's transports other than a registry's (docker://), which tspod does not write. */
const OTHER_TRANSPORTS = /^(docker-archive|docker-daemon|oci|oci-archive|dir|containers-storage|ostree|sif|tarball):/;

/** The registry reference a push goes to: NAME[:TAG] or docker://NAME[:TAG], never a digest. */
export function pushDestination(dest: string): Reference {
  const t = OTHER_TRANSPORTS.exec(dest)?.[1];
  if (t) throw new UsageError(`${dest}: the ${t} transport is not supported: tspod pushes to registries (a name, or docker://NAME)`);
  const ref = parseReference(dest.startsWith("docker://") ? dest.slice("docker://".length) : dest);
  if (ref.digest) throw new UsageError(`${dest}: cannot push to a digest: give a tag (the digest is the manifest's, known once it is pushed)`);
  return withDefaultTag(ref);
}

/** Layer media types between the two manifest formats; a layer missing here has no counterpart. */
const TO_DOCKER: Record<string, string> = {
  [MEDIA_OCI_LAYER_GZIP]: MEDIA_DOCKER_LAYER_GZIP,
  [MEDIA_OCI_LAYER]: MEDIA_DOCKER_LAYER,
  [MEDIA_OCI_LAYER_ND_GZIP]: MEDIA_DOCKER_FOREIGN_LAYER_GZIP,
  [MEDIA_OCI_CONFIG]: MEDIA_DOCKER_CONFIG,
};
const TO_OCI: Record<string, string> = Object.fromEntries(Object.entries(TO_DOCKER).map(([k, v]) => [v, k]));

/** A blob's media type in a manifest of format to: its own when it is of that format, else its counterpart (undefined: none). */
export function mediaTypeIn(type: string, to: ManifestFormat): string | undefined {
  if (type.startsWith(to === "oci" ? "application/vnd.oci." : "application/vnd.docker.")) return type;
  return (to === "oci" ? TO_OCI : TO_DOCKER)[type];
}

/**
 * A descriptor with its fields in the order Go marshals each format's struct
 * (OCI's: mediaType, digest, size; Docker's schema2: mediaType, size, digest),
 * so that a conversion gives the bytes containers/image writes: the same image
 * converted by skopeo or Podman has the same manifest digest.
 */
export function descriptor(d: any, mediaType: string, to: ManifestFormat): object {
  const urls = d.urls ? { urls: d.urls } : {};
  return to === "oci" ? { mediaType, digest: d.digest, size: d.size, ...urls } : { mediaType, size: d.size, digest: d.digest, ...urls };
}

/**
 * The manifest in the other format (--format): the same config and layer blobs
 * under the other format's media types. OCI annotations have no place in
 * Docker's format and are dropped, as containers/image drops them; a zstd
 * layer cannot be described in it at all.
 */
export function convertManifest(bytes: Uint8Array, mediaType: string, to: ManifestFormat): { bytes: Uint8Array; mediaType: string } {
  const want = to === "oci" ? MEDIA_OCI_MANIFEST : MEDIA_DOCKER_MANIFEST;
  if (mediaType === want) return { bytes, mediaType };
  const m = JSON.parse(new TextDecoder().decode(bytes));
  const map = to === "oci" ? TO_OCI : TO_DOCKER;
  const conv = (d: any, what: string) => {
    const t = map[d.mediaType];
    if (!t) throw new TspodError(`cannot write the image as ${to}: its ${what} is ${d.mediaType}, which ${to === "oci" ? "OCI" : "Docker's format (v2s2)"} has no type for`);
    return descriptor(d, t, to);
  };
  const out = {
    schemaVersion: 2,
    mediaType: want,
    config: conv(m.config, "config"),
    layers: (m.layers ?? []).map((l: any, i: number) => conv(l, `layer ${i + 1}`)),
  };
  return { bytes: new TextEncoder().encode(JSON.stringify(out)), mediaType: want };
}

/** A stored blob read in 1 MiB pieces as it is sent, counted and digested on the way. */
function blobBody(store: Store, d: Descriptor, onBytes: (n: number) => void): { body: ReadableStream<Uint8Array>; digest: () => string } {
  const fd = openSync(store.blobPath(d.digest), "r");
  const size = fstatSync(fd).size;
  if (size !== d.size) {
    closeSync(fd);
    throw damaged(`blob ${d.digest} in the store has ${size} bytes, the manifest says ${d.size}`);
  }
  const hash = new Bun.CryptoHasher("sha256");
  let closed = false;
  const close = () => {
    if (!closed) closeSync(fd);
    closed = true;
  };
  const body = new ReadableStream<Uint8Array>({
    pull(ctl) {
      const buf = new Uint8Array(1 << 20);
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) {
        close();
        ctl.close();
        return;
      }
      const chunk = buf.subarray(0, n);
      hash.update(chunk);
      onBytes(n);
      ctl.enqueue(chunk);
    },
    cancel: close,
  });
  return { body, digest: () => `sha256:${hash.digest("hex")}` };
}

/** Network trouble or the registry's own (5xx): the upload can be tried again from its start. */
function retryable(e: any): boolean {
  if (!(e instanceof RegistryError)) return false;
  // what a single request is retried for, any 5xx, and a refused connection (a registry restarting)
  if (e.status !== undefined) return RETRY_STATUS.has(e.status) || e.status >= 500;
  return RETRY_CODES.has(String(e.code)) || e.code === "ECONNREFUSED";
}

const UPLOAD_ATTEMPTS = 3;

/** What is wrong with a blob of the store, and the way out (a pull keeps a stored blob as it is). */
const damaged = (what: string) => new TspodError(`${what}: the store is damaged (tspod rmi -f the image, then pull it again)`);

export class Pusher {
  private readonly images: Images;
  private readonly store: Store;

  constructor(private ctx: Context) {
    this.images = new Images(ctx);
    this.store = this.images.store;
  }

  /**
   * --compression-format: layers are pushed as stored, so only the compression
   * they all have already is possible (Podman would recompress them).
   */
  checkCompression(source: string, want: string): void {
    const img = this.images.lookup(source);
    const kinds = new Set(img.layers.map((l) => layerCompression(l.mediaType)));
    const norm = want === "zstd:chunked" ? "zstd" : want;
    if (!["gzip", "zstd", "none"].includes(norm)) throw new UsageError(`--compression-format ${want}: must be gzip, zstd or zstd:chunked`);
    if (kinds.size > 1 || (kinds.size === 1 && !kinds.has(norm as any))) {
      throw new UsageError(`--compression-format ${want}: tspod pushes layers as stored, byte for byte, and this image's are ${[...kinds].join(" and ")}`);
    }
  }

  /**
   * Push the image source names (name or ID) to destination (a registry
   * reference; without one, the stored name source stands for).
   */
  async push(source: string, destination: string | undefined, opts: PushOptions = {}): Promise<PushResult> {
    // the image is looked at under the lock too: an rmi meanwhile leaves its blobs until the push ends
    return holdingBlobs(this.ctx, this.store, async () => {
      const img = this.images.lookup(source);
      const names = this.images.namesMatching(img, source);
      if (names.length > 1) throw new UsageError(`${source} matches several names of the image (${names.join(", ")}): give the full name`);
      const name = names[0];
      const asked = tryParseReference(source)?.digest;
      let dest: Reference;
      if (destination !== undefined) dest = pushDestination(destination);
      else if (name) dest = parseReference(name);
      else if (asked) throw new UsageError(`${source}: a digest is not a place to push to: give a destination, as in tspod push ${source} REGISTRY/REPOSITORY:TAG`);
      else throw new UsageError(`${source} is an image ID: give a destination, as in tspod push ${source} REGISTRY/REPOSITORY:TAG`);

      const conf = loadRegistriesConf();
      const entry = findRegistry(refName(dest), conf);
      if (entry?.blocked) throw new TspodError(`registry ${dest.registry} is blocked in registries.conf`);
      const tlsVerify = opts.tlsVerify ?? !entry?.insecure;

      // the manifest asked for by digest, or the one the name came with, or the one pulled last
      const mDigest = this.images.manifestFor(img, source, name);
      const mDesc = img.manifests?.find((m) => m.digest === mDigest) ?? img.manifest;
      if (img.index && (name || asked)) {
        const pulledVia = img.index.digest === asked || (name !== undefined && img.nameDigests?.[name] === img.manifest.digest);
        if (pulledVia) log("warn", `${source} was pulled from a multi-platform image: only its ${img.os}/${img.architecture}${img.variant ? `/${img.variant}` : ""} image is pushed (the index and the other platforms are not stored)`);
      }
      let manifest = { bytes: this.store.readBlob(mDigest), mediaType: mDesc.mediaType };
      if (sha256Digest(manifest.bytes) !== mDigest) throw damaged(`manifest ${mDigest} in the store does not match its digest`);
      if (opts.format) manifest = convertManifest(manifest.bytes, manifest.mediaType, opts.format);
      const parsed = JSON.parse(new TextDecoder().decode(manifest.bytes));
      const config: Descriptor = parsed.config;
      const layers: Descriptor[] = parsed.layers ?? [];

      const creds = opts.creds ?? getCredentials(`${dest.registry}/${dest.repository}`, { authFile: opts.authFile });
      const client = new Registry(dest.registry, { tlsVerify, creds, certDir: opts.certDir });
      const from = mountSource(img, dest);
      const scope = `repository:${dest.repository}:pull,push${from ? ` repository:${from}:pull` : ""}`;
      const target = refString(dest);
      trace("push: start");

      // every layer (at most jobs at once), then the config, then the manifest that names them
      const jobs = Math.max(1, opts.jobs ?? 3);
      const queue = layers.filter((l) => !isForeignLayer(l.mediaType));
      const worker = async () => {
        for (let l; (l = queue.shift()); ) await this.pushBlob(client, dest.repository, l, scope, from, opts);
      };
      await Promise.all(Array.from({ length: Math.min(jobs, queue.length) }, worker));
      await this.pushBlob(client, dest.repository, config, scope, from, { ...opts, onEvent: undefined });
      opts.onEvent?.({ type: "config", digest: config.digest });
      opts.onEvent?.({ type: "manifest" });
      const digest = sha256Digest(manifest.bytes);
      const said = await client.putManifest(dest.repository, dest.tag!, manifest.bytes, manifest.mediaType, scope);
      if (said && said.startsWith("sha256:") && said !== digest) throw new TspodError(`${target}: the registry gave the manifest digest ${said}, its content has ${digest}`);
      trace("push: done");
      return { ref: target, digest };
    });
  }

  /** One blob: there already, mounted from the image's own repository there, or uploaded. */
  private async pushBlob(client: Registry, repo: string, d: Descriptor, scope: string, from: string | undefined, opts: PushOptions): Promise<void> {
    const ev = opts.onEvent;
    if (await client.hasBlob(repo, d.digest, scope)) return void ev?.({ type: "blob-done", digest: d.digest, size: d.size, cached: true });
    if (!this.store.hasBlob(d.digest)) throw new TspodError(`blob ${d.digest} is not in the store (and not at the destination): tspod rmi -f the image, then pull it again`);
    ev?.({ type: "blob-start", digest: d.digest, size: d.size, cached: false });
    for (let attempt = 1; ; attempt++) {
      let done = 0;
      let last = 0;
      try {
        const location = await client.startUpload(repo, scope, from ? { digest: d.digest, from } : undefined);
        if (location === undefined) {
          log("debug", `blob ${d.digest}: mounted from ${from}`);
          return void ev?.({ type: "blob-done", digest: d.digest, size: d.size, cached: true });
        }
        const { body, digest } = blobBody(this.store, d, (n) => {
          done += n;
          const now = Date.now();
          if (now - last > 100) {
            last = now;
            ev?.({ type: "blob-progress", digest: d.digest, done, size: d.size });
          }
        });
        try {
          await client.finishUpload(location, d.digest, d.size, body, scope);
        } catch (e) {
          // the registry refused what was read: say whether the store's copy is to blame
          if (done === d.size && digest() !== d.digest) throw damaged(`blob ${d.digest} in the store does not match its digest`);
          throw e;
        }
        return void ev?.({ type: "blob-done", digest: d.digest, size: d.size, cached: false });
      } catch (e) {
        if (attempt >= UPLOAD_ATTEMPTS || !retryable(e)) throw e;
        log("info", `blob ${d.digest}: ${(e as Error).message}; uploading again`);
        await Bun.sleep(200 * attempt);
      }
    }
  }
}

/**
 * A repository on the destination's registry that has the image's blobs (the
 * one it was pulled from, or pushed to before under a name it has), for a
 * cross-repository mount; undefined when there is none.
 */
function mountSource(img: ImageRecord, dest: Reference): string | undefined {
  for (const n of [...img.names, ...img.repoDigests]) {
    let r: Reference;
    try {
      r = parseReference(n);
    } catch {
      continue;
    }
    if (r.registry === dest.registry && r.repository !== dest.repository) return r.repository;
  }
  return undefined;
}
