// Media types, manifests, platforms and digests: pure functions over bytes, no I/O.
// Shapes follow the OCI image spec (manifest, index, descriptor) and Docker's v2 schema 2
// (manifest, manifest list); schema 1 is refused. Platform choice follows containerd's and
// containers/image's rules: os and architecture must match, variants in order of compatibility.
import { TspodError, UsageError } from "../errors.ts";

// ---- media types -------------------------------------------------------------------------

export const MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const MEDIA_OCI_EMPTY = "application/vnd.oci.empty.v1+json";
export const MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";
export const MEDIA_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip";
export const MEDIA_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd";
export const MEDIA_OCI_LAYER_ND = "application/vnd.oci.image.layer.nondistributable.v1.tar";
export const MEDIA_OCI_LAYER_ND_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
export const MEDIA_OCI_LAYER_ND_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";

export const MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const MEDIA_DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
export const MEDIA_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/** Seen in the wild (containers/image knows it), not in Docker's spec. */
export const MEDIA_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
export const MEDIA_DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";
export const MEDIA_DOCKER_SCHEMA1 = "application/vnd.docker.distribution.manifest.v1+json";
export const MEDIA_DOCKER_SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws";

/** Accept header for manifest GETs, most wanted first. Schema 1 is listed so that an old image
 * comes back as schema 1 and gets a clear refusal instead of a confusing 404. */
export const MANIFEST_ACCEPT: readonly string[] = [
  MEDIA_OCI_INDEX,
  MEDIA_DOCKER_MANIFEST_LIST,
  MEDIA_OCI_MANIFEST,
  MEDIA_DOCKER_MANIFEST,
  MEDIA_DOCKER_SCHEMA1_SIGNED,
  MEDIA_DOCKER_SCHEMA1,
];

export const IMAGE_CONFIG_MEDIA_TYPES: readonly string[] = [MEDIA_OCI_CONFIG, MEDIA_DOCKER_CONFIG];

const INDEX_TYPES = new Set([MEDIA_OCI_INDEX, MEDIA_DOCKER_MANIFEST_LIST]);
const IMAGE_TYPES = new Set([MEDIA_OCI_MANIFEST, MEDIA_DOCKER_MANIFEST]);
const SCHEMA1_TYPES = new Set([MEDIA_DOCKER_SCHEMA1, MEDIA_DOCKER_SCHEMA1_SIGNED]);

export type Compression = "gzip" | "zstd" | "none";

const LAYER_COMPRESSION: Record<string, Compression> = {
  [MEDIA_OCI_LAYER]: "none",
  [MEDIA_OCI_LAYER_GZIP]: "gzip",
  [MEDIA_OCI_LAYER_ZSTD]: "zstd",
  [MEDIA_OCI_LAYER_ND]: "none",
  [MEDIA_OCI_LAYER_ND_GZIP]: "gzip",
  [MEDIA_OCI_LAYER_ND_ZSTD]: "zstd",
  [MEDIA_DOCKER_LAYER_GZIP]: "gzip",
  [MEDIA_DOCKER_LAYER]: "none",
  [MEDIA_DOCKER_FOREIGN_LAYER_GZIP]: "gzip",
};

/** How a layer blob of this media type is compressed. Unknown types are an error: better to
 * refuse than to unpack garbage. */
export function layerCompression(mediaType: string): Compression {
  const c = LAYER_COMPRESSION[mediaType];
  if (c === undefined) {
    throw new TspodError(
      `unsupported layer media type "${mediaType}" (known: tar, tar+gzip, tar+zstd in OCI or Docker form)`,
    );
  }
  return c;
}

/** True for the nondistributable / foreign layer types (Windows base layers, mostly). */
export function isForeignLayer(mediaType: string): boolean {
  return (
    mediaType === MEDIA_DOCKER_FOREIGN_LAYER_GZIP ||
    mediaType === MEDIA_OCI_LAYER_ND ||
    mediaType === MEDIA_OCI_LAYER_ND_GZIP ||
    mediaType === MEDIA_OCI_LAYER_ND_ZSTD
  );
}

// ---- digests -------------------------------------------------------------------------------

export type DigestAlgorithm = "sha256" | "sha384" | "sha512";

export interface Digest {
  algorithm: DigestAlgorithm;
  hex: string;
}

const HEX_LEN: Record<DigestAlgorithm, number> = { sha256: 64, sha384: 96, sha512: 128 };

function digestProblem(s: string): string | undefined {
  const colon = s.indexOf(":");
  if (colon <= 0 || colon === s.length - 1) return "expected algorithm:hex";
  const alg = s.slice(0, colon);
  const hex = s.slice(colon + 1);
  if (!/^[a-z0-9]+(?:[.+_-][a-z0-9]+)*$/.test(alg)) return "malformed algorithm";
  if (!Object.hasOwn(HEX_LEN, alg)) return `unsupported digest algorithm "${alg}"`;
  const want = HEX_LEN[alg as DigestAlgorithm];
  if (!/^[0-9a-fA-F]*$/.test(hex)) return "the hex part is not hexadecimal";
  if (hex.length !== want) return `${alg} needs ${want} hex digits, got ${hex.length}`;
  if (hex !== hex.toLowerCase()) return "hex digits must be lowercase";
  return undefined;
}

/** Parse "sha256:<64 lowercase hex>" (also sha384, sha512). Throws TspodError naming the input. */
export function parseDigest(s: string): Digest {
  const why = digestProblem(s);
  if (why) throw new TspodError(`invalid digest "${s}": ${why}`);
  const colon = s.indexOf(":");
  return { algorithm: s.slice(0, colon) as DigestAlgorithm, hex: s.slice(colon + 1) };
}

export function isDigest(s: string): boolean {
  return digestProblem(s) === undefined;
}

/** Explains why s is not a valid digest, or undefined when it is. */
export function digestError(s: string): string | undefined {
  return digestProblem(s);
}

export function computeDigest(data: Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): string {
  const h = new Bun.CryptoHasher(algorithm);
  h.update(data);
  return `${algorithm}:${h.digest("hex")}`;
}

export function sha256Digest(data: Uint8Array | string): string {
  return computeDigest(data, "sha256");
}

export interface Digester {
  readonly algorithm: DigestAlgorithm;
  update(chunk: Uint8Array): void;
  /** "algorithm:hex"; call once, at the end. */
  digest(): string;
}

/** Incremental hasher for streamed blobs (download -> hash -> decompress in one pass). */
export function createDigester(algorithm: DigestAlgorithm = "sha256"): Digester {
  const h = new Bun.CryptoHasher(algorithm);
  return {
    algorithm,
    update(chunk) {
      h.update(chunk);
    },
    digest() {
      return `${algorithm}:${h.digest("hex")}`;
    },
  };
}

export class DigestMismatchError extends TspodError {
  expected: string;
  actual: string;
  constructor(expected: string, actual: string, what?: string) {
    super(`digest mismatch${what ? ` for ${what}` : ""}: expected ${expected}, got ${actual}`);
    this.name = "DigestMismatchError";
    this.expected = expected;
    this.actual = actual;
  }
}

/** Hash data with the expected digest's algorithm; throw DigestMismatchError naming both digests. */
export function verifyDigest(data: Uint8Array | string, expected: string, what?: string): void {
  const d = parseDigest(expected);
  const actual = computeDigest(data, d.algorithm);
  if (actual !== expected) throw new DigestMismatchError(expected, actual, what);
}

// ---- descriptors and manifests --------------------------------------------------------------

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  osVersion?: string;
  osFeatures?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
}

export interface ImageManifest {
  kind: "image";
  mediaType: string;
  schemaVersion: 2;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
  subject?: Descriptor;
  artifactType?: string;
}

export interface IndexManifest {
  kind: "index";
  mediaType: string;
  schemaVersion: 2;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
  subject?: Descriptor;
}

export type Manifest = ImageManifest | IndexManifest;

export const SCHEMA1_MESSAGE =
  "schema 1 manifests are not supported (image is too old; re-push it with a newer tool)";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function bad(what: string, why: string): TspodError {
  return new TspodError(`invalid ${what}: ${why}`);
}

function stringMap(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad("manifest", `${where} must be an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== "string") throw bad("manifest", `${where}["${k}"] must be a string`);
    out[k] = val;
  }
  return out;
}

function parsePlatformObject(v: unknown, where: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad("manifest", `${where}.platform must be an object`);
  const { os, architecture, variant } = v;
  if (typeof os !== "string" || typeof architecture !== "string") {
    throw bad("manifest", `${where}.platform needs string "os" and "architecture"`);
  }
  const p: Platform = { os, architecture };
  if (variant !== undefined && variant !== null) {
    if (typeof variant !== "string") throw bad("manifest", `${where}.platform.variant must be a string`);
    if (variant !== "") p.variant = variant;
  }
  const osVersion = v["os.version"];
  if (osVersion !== undefined && osVersion !== null) {
    if (typeof osVersion !== "string") throw bad("manifest", `${where}.platform["os.version"] must be a string`);
    p.osVersion = osVersion;
  }
  const osFeatures = v["os.features"];
  if (osFeatures !== undefined && osFeatures !== null) {
    if (!Array.isArray(osFeatures) || !osFeatures.every((f) => typeof f === "string")) {
      throw bad("manifest", `${where}.platform["os.features"] must be an array of strings`);
    }
    p.osFeatures = osFeatures as string[];
  }
  return p;
}

/** Validate one descriptor object (OCI descriptor / Docker manifest entry). */
export function parseDescriptor(v: unknown, where = "descriptor"): Descriptor {
  if (!isObject(v)) throw bad("manifest", `${where} must be an object`);
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== "string" || mediaType === "") {
    throw bad("manifest", `${where} has no mediaType`);
  }
  if (typeof digest !== "string") throw bad("manifest", `${where} has no digest`);
  const why = digestProblem(digest);
  if (why) throw bad("manifest", `${where} has invalid digest "${digest}": ${why}`);
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw bad("manifest", `${where} size must be a non-negative integer, got ${JSON.stringify(size)}`);
  }
  const d: Descriptor = { mediaType, digest, size };
  if (v.urls !== undefined && v.urls !== null) {
    if (!Array.isArray(v.urls) || !v.urls.every((u) => typeof u === "string")) {
      throw bad("manifest", `${where}.urls must be an array of strings`);
    }
    d.urls = v.urls as string[];
  }
  const annotations = stringMap(v.annotations, `${where}.annotations`);
  if (annotations) d.annotations = annotations;
  const platform = parsePlatformObject(v.platform, where);
  if (platform) d.platform = platform;
  if (typeof v.artifactType === "string") d.artifactType = v.artifactType;
  return d;
}

function baseContentType(ct: string | undefined): string | undefined {
  if (!ct) return undefined;
  const base = ct.split(";")[0]!.trim().toLowerCase();
  // Generic types say nothing about the manifest kind.
  if (base === "" || base === "application/json" || base === "text/plain" || base === "application/octet-stream") {
    return undefined;
  }
  return base;
}

/** An OCI index or a Docker manifest list. */
export function isIndexType(mediaType: string): boolean {
  return INDEX_TYPES.has(mediaType);
}

function kindOf(mediaType: string): "index" | "image" | "schema1" | undefined {
  if (INDEX_TYPES.has(mediaType)) return "index";
  if (IMAGE_TYPES.has(mediaType)) return "image";
  if (SCHEMA1_TYPES.has(mediaType)) return "schema1";
  return undefined;
}

/**
 * Parse and validate a manifest or index. The kind comes from the document's own `mediaType`,
 * else the Content-Type the registry sent, else its shape (`manifests` -> index, `layers` /
 * `config` -> image). Schema 1 is refused with SCHEMA1_MESSAGE.
 */
export function parseManifest(bytes: Uint8Array | string, contentType?: string): Manifest {
  const text = typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw bad("manifest", `not JSON (${(e as Error).message})`);
  }
  if (!isObject(doc)) throw bad("manifest", "not a JSON object");

  const ct = baseContentType(contentType);
  const field = typeof doc.mediaType === "string" && doc.mediaType !== "" ? doc.mediaType : undefined;
  if (
    doc.schemaVersion === 1 ||
    (field && kindOf(field) === "schema1") ||
    (!field && ct && kindOf(ct) === "schema1") ||
    (!field && !ct && Array.isArray(doc.fsLayers))
  ) {
    throw new TspodError(SCHEMA1_MESSAGE);
  }

  let kind: "index" | "image";
  let mediaType: string;
  const declared = field ?? ct;
  if (declared) {
    const k = kindOf(declared);
    if (k === undefined) {
      throw new TspodError(`unsupported manifest media type "${declared}"`);
    }
    kind = k as "index" | "image";
    mediaType = declared;
  } else if (Array.isArray(doc.manifests)) {
    kind = "index";
    mediaType = MEDIA_OCI_INDEX;
  } else if (Array.isArray(doc.layers) || isObject(doc.config)) {
    kind = "image";
    mediaType = MEDIA_OCI_MANIFEST;
  } else {
    throw bad("manifest", "neither an image manifest (config, layers) nor an index (manifests)");
  }

  if (doc.schemaVersion !== 2) {
    throw bad("manifest", `schemaVersion must be 2, got ${JSON.stringify(doc.schemaVersion)}`);
  }
  const annotations = stringMap(doc.annotations, "annotations");
  const subject = doc.subject === undefined || doc.subject === null ? undefined : parseDescriptor(doc.subject, "subject");

  if (kind === "index") {
    if (!Array.isArray(doc.manifests)) {
      throw bad("manifest", `${mediaType} has no "manifests" array`);
    }
    const m: IndexManifest = {
      kind,
      mediaType,
      schemaVersion: 2,
      manifests: doc.manifests.map((d, i) => parseDescriptor(d, `manifests[${i}]`)),
    };
    if (annotations) m.annotations = annotations;
    if (subject) m.subject = subject;
    return m;
  }

  if (!isObject(doc.config)) throw bad("manifest", `${mediaType} has no "config" descriptor`);
  if (!Array.isArray(doc.layers)) throw bad("manifest", `${mediaType} has no "layers" array`);
  const m: ImageManifest = {
    kind,
    mediaType,
    schemaVersion: 2,
    config: parseDescriptor(doc.config, "config"),
    layers: doc.layers.map((d, i) => parseDescriptor(d, `layers[${i}]`)),
  };
  if (annotations) m.annotations = annotations;
  if (subject) m.subject = subject;
  if (typeof doc.artifactType === "string") m.artifactType = doc.artifactType;
  return m;
}

// ---- platforms -------------------------------------------------------------------------------

const ARCH_ALIASES: Record<string, { arch: string; variant?: string }> = {
  x86_64: { arch: "amd64" },
  "x86-64": { arch: "amd64" },
  x64: { arch: "amd64" },
  aarch64: { arch: "arm64" },
  armhf: { arch: "arm", variant: "v7" },
  armel: { arch: "arm", variant: "v6" },
  i386: { arch: "386" },
  i686: { arch: "386" },
  ia32: { arch: "386" },
  x86: { arch: "386" },
};

/** Normalise architecture names and variants as containerd does ("aarch64" -> arm64, arm64 "8"
 * -> "v8", amd64 "v1" -> none, arm with no variant -> "v7"). */
export function normalizePlatform(p: Platform): Platform {
  const os = p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = p.variant?.toLowerCase() || undefined;
  const alias = ARCH_ALIASES[arch];
  if (alias) {
    arch = alias.arch;
    if (alias.variant && !variant) variant = alias.variant;
  }
  if (variant && /^\d+(\.\d+)?$/.test(variant)) variant = `v${variant}`;
  if (arch === "arm64" && (variant === "v8" || variant === "v8.0")) variant = "v8";
  if (arch === "amd64" && variant === "v1") variant = undefined;
  if (arch === "arm" && !variant) variant = "v7";
  const out: Platform = { os, architecture: arch };
  if (variant) out.variant = variant;
  if (p.osVersion) out.osVersion = p.osVersion;
  if (p.osFeatures) out.osFeatures = p.osFeatures;
  return out;
}

/** The platform this process runs on (always linux: tspod runs Linux containers). */
export function hostPlatform(): Platform {
  const a = process.arch as string;
  switch (a) {
    case "x64":
      return { os: "linux", architecture: "amd64" };
    case "arm64":
      return { os: "linux", architecture: "arm64" };
    case "arm": {
      const v = (process.config as { variables?: Record<string, unknown> }).variables?.arm_version;
      return { os: "linux", architecture: "arm", variant: v ? `v${v}` : "v7" };
    }
    case "ia32":
      return { os: "linux", architecture: "386" };
    case "ppc64":
      return { os: "linux", architecture: "ppc64le" };
    case "mipsel":
      return { os: "linux", architecture: "mipsle" };
    case "mips64el":
      return { os: "linux", architecture: "mips64le" };
    default:
      return { os: "linux", architecture: a };
  }
}

const PLATFORM_PART = /^[a-z0-9][a-z0-9._-]*$/;

/** Parse --platform "os/arch[/variant]" (e.g. linux/arm64/v8) into a normalised Platform. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !PLATFORM_PART.test(p))) {
    throw new UsageError(`invalid platform "${s}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`);
  }
  const p: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) p.variant = parts[2];
  return normalizePlatform(p);
}

/** "os/arch[/variant]" as written in the platform (not normalised). */
export function platformString(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

const ARM_ORDER = ["v8", "v7", "v6", "v5"];

/** Variants acceptable for a wanted platform, best first; "" means "no variant given". */
function wantedVariants(want: Platform): string[] {
  const arch = want.architecture;
  const v = want.variant ?? "";
  let list: string[];
  if (arch === "arm") {
    const i = ARM_ORDER.indexOf(v);
    list = i >= 0 ? [...ARM_ORDER.slice(i), ""] : [v, ""];
  } else if (arch === "arm64") {
    // An image entry for arm64 may say nothing or "v8": both run on any arm64.
    list = v === "" || v === "v8" ? [v, v === "" ? "v8" : ""] : [v, "", "v8"];
  } else if (arch === "amd64") {
    const m = /^v(\d+)$/.exec(v);
    list = [v];
    if (m) for (let n = Number(m[1]) - 1; n >= 2; n--) list.push(`v${n}`);
    list.push("");
  } else {
    list = v ? [v, ""] : [""];
  }
  return [...new Set(list)];
}

/** Attestation manifests (buildkit provenance/SBOM) are never images to run. */
export function isAttestation(d: Descriptor): boolean {
  if (d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest") return true;
  return d.platform?.os === "unknown" || d.platform?.architecture === "unknown";
}

/** The entries of an index that name a runnable platform, in index order. */
export function runnableEntries(index: IndexManifest): Descriptor[] {
  return index.manifests.filter((d) => d.platform !== undefined && !isAttestation(d));
}

/**
 * Choose the manifest for a platform (default: the host's) from an index, best match first:
 * os and architecture must match; the exact variant wins, then compatible ones (arm v7 runs v6
 * and v5; an arm64 entry without a variant and one with v8 are interchangeable; amd64 v3 runs
 * v2 and plain amd64). Entries without a platform and attestation manifests are skipped.
 */
export function selectManifest(index: IndexManifest, platform: Platform = hostPlatform()): Descriptor {
  const want = normalizePlatform(platform);
  const entries = runnableEntries(index);
  const norm = entries.map((d) => normalizePlatform(d.platform!));
  for (const variant of wantedVariants(want)) {
    for (let i = 0; i < entries.length; i++) {
      const p = norm[i]!;
      if (p.os !== want.os || p.architecture !== want.architecture) continue;
      if ((p.variant ?? "") === variant) return entries[i]!;
    }
  }
  const available = [...new Set(entries.map((d) => platformString(d.platform!)))];
  throw new TspodError(
    `no image found in manifest list for platform ${platformString(want)} (available: ${
      available.length ? available.join(", ") : "none"
    })`,
  );
}
