// Test images made on the fly: an OCI image layout (blobs, manifest, config with
// correct diff_ids, index.json) built from layers given as tar bytes, pushed to
// the test registry with skopeo (an independent client) with its digests kept.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REGISTRY, skopeo } from "./tspod.ts";

export const sha256hex = (b: Uint8Array | string) => new Bun.CryptoHasher("sha256").update(b).digest("hex");
export const sha256 = (b: Uint8Array | string) => `sha256:${sha256hex(b)}`;

/** A repository name no other test run uses: tspod-test/<what>-<random>. */
export function uniqueRepo(what: string): string {
  return `tspod-test/${what}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
}

export interface LayerSpec {
  /** the uncompressed tar stream */
  tar: Uint8Array;
  /** how the blob is stored; default gzip */
  compression?: "gzip" | "none";
  /** the media type the manifest gives it, when it should not be the true one */
  mediaType?: string;
}

export interface BuiltLayer {
  mediaType: string;
  /** digest of the blob as pushed (compressed) */
  digest: string;
  size: number;
  /** digest of the uncompressed tar */
  diffID: string;
  /** the blob bytes */
  blob: Uint8Array;
}

export interface BuiltImage {
  dir: string;
  tag: string;
  layers: BuiltLayer[];
  config: { digest: string; size: number; bytes: Uint8Array };
  manifest: { digest: string; size: number; bytes: Uint8Array };
  /** the config digest's hex: tspod's image ID */
  id: string;
}

export interface ImageOptions {
  tag?: string;
  /** extra fields merged into the config (e.g. { config: { Cmd: ["sh"] } }) */
  config?: Record<string, unknown>;
  /** the manifest's annotations */
  annotations?: Record<string, string>;
  /** where to write the layout; default a new dir under /tmp (removed by removeLayout) */
  dir?: string;
}

function writeBlob(dir: string, bytes: Uint8Array): string {
  const d = sha256(bytes);
  writeFileSync(join(dir, "blobs/sha256", d.slice(7)), bytes);
  return d;
}

/** Build an OCI image layout from layers (tar bytes). */
export function buildLayout(layers: (Uint8Array | LayerSpec)[], opts: ImageOptions = {}): BuiltImage {
  const tag = opts.tag ?? "latest";
  const dir = opts.dir ?? mkdtempSync("/tmp/tspod-oci-");
  mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const built: BuiltLayer[] = layers.map((l) => {
    const spec: LayerSpec = l instanceof Uint8Array ? { tar: l } : l;
    const gz = (spec.compression ?? "gzip") === "gzip";
    const blob = gz ? Bun.gzipSync(spec.tar as Uint8Array<ArrayBuffer>) : spec.tar;
    const digest = writeBlob(dir, blob);
    return {
      mediaType: spec.mediaType ?? (gz ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar"),
      digest,
      size: blob.length,
      diffID: sha256(spec.tar),
      blob,
    };
  });
  const cfg = {
    created: "2024-01-01T00:00:00Z",
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"] },
    rootfs: { type: "layers", diff_ids: built.map((l) => l.diffID) },
    history: built.map((_, i) => ({ created: "2024-01-01T00:00:00Z", created_by: `tspod test layer ${i}` })),
    ...(opts.config ?? {}),
  };
  const cfgBytes = new TextEncoder().encode(JSON.stringify(cfg));
  const cfgDigest = writeBlob(dir, cfgBytes);
  const manifest = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cfgDigest, size: cfgBytes.length },
    layers: built.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    ...(opts.annotations ? { annotations: opts.annotations } : {}),
  };
  const mBytes = new TextEncoder().encode(JSON.stringify(manifest));
  const mDigest = writeBlob(dir, mBytes);
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [
      {
        mediaType: manifest.mediaType,
        digest: mDigest,
        size: mBytes.length,
        annotations: { "org.opencontainers.image.ref.name": tag },
      },
    ],
  };
  writeFileSync(join(dir, "index.json"), JSON.stringify(index));
  return {
    dir,
    tag,
    layers: built,
    config: { digest: cfgDigest, size: cfgBytes.length, bytes: cfgBytes },
    manifest: { digest: mDigest, size: mBytes.length, bytes: mBytes },
    id: cfgDigest.slice(7),
  };
}

/** Push a layout to the test registry as NAME:TAG (digests preserved); returns the full reference. */
export function pushLayout(img: BuiltImage, name: string, registry = REGISTRY): string {
  const ref = `${registry}/${name}:${img.tag}`;
  skopeo(["--insecure-policy", "copy", "-q", "--dest-tls-verify=false", "--preserve-digests", `oci:${img.dir}:${img.tag}`, `docker://${ref}`]);
  return ref;
}

/** Build and push in one step; the layout dir is removed afterwards. */
export function pushImage(name: string, layers: (Uint8Array | LayerSpec)[], opts: ImageOptions = {}): BuiltImage & { ref: string } {
  const img = buildLayout(layers, opts);
  try {
    return { ...img, ref: pushLayout(img, name) };
  } finally {
    if (!opts.dir) removeLayout(img);
  }
}

export function removeLayout(img: BuiltImage): void {
  rmSync(img.dir, { recursive: true, force: true });
}

/** Where the test registry (distribution v2, filesystem driver) keeps a blob's bytes. */
export function registryBlobPath(storage: string, digest: string): string {
  const hex = digest.slice(digest.indexOf(":") + 1);
  return join(storage, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
}

/** Every repository directory (one holding _layers or _manifests) under the registry's storage. */
function repositoryDirs(storage: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number) => {
    let names: string[] = [];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    if (names.includes("_layers") || names.includes("_manifests")) out.push(d);
    if (depth < 8) for (const n of names) if (!n.startsWith("_")) walk(join(d, n), depth + 1);
  };
  walk(join(storage, "docker/registry/v2/repositories"), 0);
  return out;
}

/**
 * Remove test images from the registry's storage (root only): the repositories' directories,
 * then each of their blobs that no other repository links to (fixtures are never touched).
 */
export function deleteFromRegistry(storage: string, images: { name: string; digests: string[] }[]): void {
  const repos = join(storage, "docker/registry/v2/repositories");
  for (const img of images) {
    if (!/^[a-z0-9._/-]+$/.test(img.name) || img.name.split("/").includes("..")) continue;
    rmSync(join(repos, img.name), { recursive: true, force: true });
  }
  const others = repositoryDirs(storage);
  for (const digest of new Set(images.flatMap((i) => i.digests))) {
    const hex = digest.slice(digest.indexOf(":") + 1);
    if (!/^[a-f0-9]{64}$/.test(hex)) continue;
    const linked = others.some((r) => existsSync(join(r, "_layers/sha256", hex)) || existsSync(join(r, "_manifests/revisions/sha256", hex)));
    if (!linked) rmSync(join(registryBlobPath(storage, digest), ".."), { recursive: true, force: true });
  }
}
