import { describe, expect, test } from "bun:test";
import { TspodError, UsageError } from "../../src/errors.ts";
import {
  DigestMismatchError,
  MEDIA_DOCKER_CONFIG,
  MEDIA_DOCKER_FOREIGN_LAYER_GZIP,
  MEDIA_DOCKER_LAYER_GZIP,
  MEDIA_DOCKER_MANIFEST,
  MEDIA_DOCKER_MANIFEST_LIST,
  MEDIA_DOCKER_SCHEMA1,
  MEDIA_DOCKER_SCHEMA1_SIGNED,
  MEDIA_OCI_CONFIG,
  MEDIA_OCI_INDEX,
  MEDIA_OCI_LAYER,
  MEDIA_OCI_LAYER_GZIP,
  MEDIA_OCI_LAYER_ND,
  MEDIA_OCI_LAYER_ND_GZIP,
  MEDIA_OCI_LAYER_ND_ZSTD,
  MEDIA_OCI_LAYER_ZSTD,
  MEDIA_OCI_MANIFEST,
  SCHEMA1_MESSAGE,
  type Descriptor,
  type IndexManifest,
  type Platform,
  computeDigest,
  createDigester,
  hostPlatform,
  isDigest,
  layerCompression,
  parseDigest,
  parseManifest,
  parsePlatform,
  selectManifest,
  sha256Digest,
  verifyDigest,
} from "../../src/image/manifest.ts";
import { thrown } from "../helpers/thrown.ts";

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const dg = (c: string) => `sha256:${c.repeat(64)}`;


describe("digests", () => {
  test("sha256Digest of known inputs", () => {
    expect(sha256Digest(new Uint8Array())).toBe("sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(sha256Digest("abc")).toBe("sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(computeDigest("abc", "sha512")).toBe(
      "sha512:ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f",
    );
  });

  test("createDigester hashes streamed chunks like one buffer", () => {
    const d = createDigester();
    d.update(new TextEncoder().encode("a"));
    d.update(new TextEncoder().encode("bc"));
    expect(d.digest()).toBe(sha256Digest("abc"));
  });

  test.each([
    [dg("a"), "sha256", "a".repeat(64)],
    ["sha384:" + "0".repeat(96), "sha384", "0".repeat(96)],
    ["sha512:" + "9".repeat(128), "sha512", "9".repeat(128)],
  ])("parseDigest(%s)", (s, alg, hex) => {
    expect(parseDigest(s)).toEqual({ algorithm: alg as "sha256", hex });
    expect(isDigest(s)).toBe(true);
  });

  test.each([
    ["", "expected algorithm:hex"],
    ["sha256", "expected algorithm:hex"],
    ["sha256:", "expected algorithm:hex"],
    [":abc", "expected algorithm:hex"],
    ["md5:" + "a".repeat(32), 'unsupported digest algorithm "md5"'],
    ["sha256:" + "a".repeat(63), "sha256 needs 64 hex digits, got 63"],
    ["sha256:" + "a".repeat(65), "sha256 needs 64 hex digits, got 65"],
    ["sha512:" + "a".repeat(64), "sha512 needs 128 hex digits, got 64"],
    ["sha256:" + "A".repeat(64), "hex digits must be lowercase"],
    ["sha256:" + "g".repeat(64), "the hex part is not hexadecimal"],
    ["SHA256:" + "a".repeat(64), "malformed algorithm"],
  ])("parseDigest(%s) fails", (s, msg) => {
    const e = thrown(() => parseDigest(s));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toBe(`invalid digest "${s}": ${msg}`);
    expect(isDigest(s)).toBe(false);
  });

  test("verifyDigest passes on match, names both digests on mismatch", () => {
    const data = new TextEncoder().encode("layer bytes");
    const good = sha256Digest(data);
    expect(() => verifyDigest(data, good)).not.toThrow();
    const wrong = dg("0");
    const e = thrown(() => verifyDigest(data, wrong, "layer"));
    expect(e).toBeInstanceOf(DigestMismatchError);
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toBe(`digest mismatch for layer: expected ${wrong}, got ${good}`);
    expect((e as DigestMismatchError).expected).toBe(wrong);
    expect((e as DigestMismatchError).actual).toBe(good);
    // sha512 expected digests are checked with sha512
    expect(() => verifyDigest(data, computeDigest(data, "sha512"))).not.toThrow();
    expect(() => verifyDigest(data, "nonsense")).toThrow('invalid digest "nonsense"');
  });
});

describe("layerCompression", () => {
  test.each([
    [MEDIA_OCI_LAYER, "none"],
    [MEDIA_OCI_LAYER_GZIP, "gzip"],
    [MEDIA_OCI_LAYER_ZSTD, "zstd"],
    [MEDIA_OCI_LAYER_ND, "none"],
    [MEDIA_OCI_LAYER_ND_GZIP, "gzip"],
    [MEDIA_OCI_LAYER_ND_ZSTD, "zstd"],
    [MEDIA_DOCKER_LAYER_GZIP, "gzip"],
    [MEDIA_DOCKER_FOREIGN_LAYER_GZIP, "gzip"],
    ["application/vnd.docker.image.rootfs.diff.tar", "none"],
  ])("%s -> %s", (mt, c) => {
    expect(layerCompression(mt)).toBe(c as "gzip");
  });
  test("unknown media type is an error naming it", () => {
    const e = thrown(() => layerCompression("application/vnd.oci.image.layer.v1.tar+bzip2"));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toContain('unsupported layer media type "application/vnd.oci.image.layer.v1.tar+bzip2"');
  });
  test("media type constants", () => {
    expect(MEDIA_DOCKER_LAYER_GZIP).toBe("application/vnd.docker.image.rootfs.diff.tar.gzip");
    expect(MEDIA_DOCKER_SCHEMA1).toBe("application/vnd.docker.distribution.manifest.v1+json");
    expect(MEDIA_DOCKER_SCHEMA1_SIGNED).toBe("application/vnd.docker.distribution.manifest.v1+prettyjws");
    expect(MEDIA_OCI_LAYER_ND_ZSTD).toBe("application/vnd.oci.image.layer.nondistributable.v1.tar+zstd");
  });
});

const config: Descriptor = { mediaType: MEDIA_OCI_CONFIG, digest: dg("c"), size: 1234 };
const layer: Descriptor = { mediaType: MEDIA_OCI_LAYER_GZIP, digest: dg("1"), size: 100 };
const ociImage = { schemaVersion: 2, mediaType: MEDIA_OCI_MANIFEST, config, layers: [layer] };
const dockerImage = {
  schemaVersion: 2,
  mediaType: MEDIA_DOCKER_MANIFEST,
  config: { ...config, mediaType: MEDIA_DOCKER_CONFIG },
  layers: [{ ...layer, mediaType: MEDIA_DOCKER_LAYER_GZIP }],
};

describe("parseManifest", () => {
  test("OCI image manifest", () => {
    const m = parseManifest(enc({ ...ociImage, annotations: { a: "b" } }));
    expect(m).toEqual({ kind: "image", mediaType: MEDIA_OCI_MANIFEST, schemaVersion: 2, config, layers: [layer], annotations: { a: "b" } });
  });

  test("Docker v2 schema 2 manifest", () => {
    const m = parseManifest(enc(dockerImage));
    expect(m.kind).toBe("image");
    expect(m.mediaType).toBe(MEDIA_DOCKER_MANIFEST);
    if (m.kind !== "image") throw new Error();
    expect(m.config.mediaType).toBe(MEDIA_DOCKER_CONFIG);
    expect(m.layers[0]!.mediaType).toBe(MEDIA_DOCKER_LAYER_GZIP);
  });

  test("index and manifest list, with platforms", () => {
    const idx = {
      schemaVersion: 2,
      mediaType: MEDIA_DOCKER_MANIFEST_LIST,
      manifests: [
        { mediaType: MEDIA_DOCKER_MANIFEST, digest: dg("a"), size: 10, platform: { os: "linux", architecture: "arm", variant: "v7" } },
        { mediaType: MEDIA_DOCKER_MANIFEST, digest: dg("b"), size: 11, platform: { os: "windows", architecture: "amd64", "os.version": "10.0.17763.1", "os.features": ["win32k"] } },
      ],
    };
    const m = parseManifest(enc(idx));
    expect(m).toEqual({
      kind: "index",
      mediaType: MEDIA_DOCKER_MANIFEST_LIST,
      schemaVersion: 2,
      manifests: [
        { mediaType: MEDIA_DOCKER_MANIFEST, digest: dg("a"), size: 10, platform: { os: "linux", architecture: "arm", variant: "v7" } },
        { mediaType: MEDIA_DOCKER_MANIFEST, digest: dg("b"), size: 11, platform: { os: "windows", architecture: "amd64", osVersion: "10.0.17763.1", osFeatures: ["win32k"] } },
      ],
    });
  });

  test("kind from the Content-Type header when the document has no mediaType", () => {
    const { mediaType: _m, ...noType } = ociImage;
    expect(parseManifest(enc(noType), MEDIA_DOCKER_MANIFEST + "; charset=utf-8").mediaType).toBe(MEDIA_DOCKER_MANIFEST);
    const idx = { schemaVersion: 2, manifests: [] };
    expect(parseManifest(enc(idx), MEDIA_OCI_INDEX)).toEqual({ kind: "index", mediaType: MEDIA_OCI_INDEX, schemaVersion: 2, manifests: [] });
  });

  test("kind from the shape when neither says", () => {
    const { mediaType: _m, ...noType } = ociImage;
    expect(parseManifest(enc(noType), "application/json").kind).toBe("image");
    expect(parseManifest(enc(noType)).mediaType).toBe(MEDIA_OCI_MANIFEST);
    const idx = parseManifest(enc({ schemaVersion: 2, manifests: [] }));
    expect(idx.kind).toBe("index");
    expect(idx.mediaType).toBe(MEDIA_OCI_INDEX);
  });

  test("the document's mediaType wins over a wrong Content-Type", () => {
    expect(parseManifest(enc(ociImage), MEDIA_DOCKER_MANIFEST_LIST).kind).toBe("image");
  });

  test.each([
    ["schemaVersion 1", { schemaVersion: 1, name: "x", tag: "y", fsLayers: [], history: [] }, undefined],
    ["v1+json mediaType", { schemaVersion: 2, mediaType: MEDIA_DOCKER_SCHEMA1 }, undefined],
    ["prettyjws content type", { name: "x", fsLayers: [] }, MEDIA_DOCKER_SCHEMA1_SIGNED],
    ["fsLayers shape", { name: "x", fsLayers: [{ blobSum: dg("a") }] }, undefined],
  ])("schema 1 is refused (%s)", (_n, doc, ct) => {
    const e = thrown(() => parseManifest(enc(doc), ct));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toBe("schema 1 manifests are not supported (image is too old; re-push it with a newer tool)");
    expect(e.message).toBe(SCHEMA1_MESSAGE);
  });

  test.each([
    ["not JSON", "{", "invalid manifest: not JSON"],
    ["array", "[]", "invalid manifest: not a JSON object"],
    ["unknown media type", JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.artifact.manifest.v1+json" }), 'unsupported manifest media type "application/vnd.oci.artifact.manifest.v1+json"'],
    ["no shape", JSON.stringify({ schemaVersion: 2 }), "neither an image manifest"],
    ["schemaVersion 3", JSON.stringify({ ...ociImage, schemaVersion: 3 }), "schemaVersion must be 2, got 3"],
    ["missing schemaVersion", JSON.stringify({ ...ociImage, schemaVersion: undefined }), "schemaVersion must be 2"],
    ["index without manifests", JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_OCI_INDEX, layers: [] }), 'has no "manifests" array'],
    ["image without config", JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_OCI_MANIFEST, layers: [] }), 'has no "config" descriptor'],
    ["image without layers", JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_OCI_MANIFEST, config }), 'has no "layers" array'],
    ["bad digest", JSON.stringify({ ...ociImage, layers: [{ ...layer, digest: "sha256:abc" }] }), 'layers[0] has invalid digest "sha256:abc": sha256 needs 64 hex digits, got 3'],
    ["uppercase digest", JSON.stringify({ ...ociImage, config: { ...config, digest: "sha256:" + "A".repeat(64) } }), "config has invalid digest"],
    ["missing digest", JSON.stringify({ ...ociImage, layers: [{ mediaType: MEDIA_OCI_LAYER, size: 1 }] }), "layers[0] has no digest"],
    ["negative size", JSON.stringify({ ...ociImage, layers: [{ ...layer, size: -1 }] }), "layers[0] size must be a non-negative integer, got -1"],
    ["fractional size", JSON.stringify({ ...ociImage, layers: [{ ...layer, size: 1.5 }] }), "size must be a non-negative integer, got 1.5"],
    ["string size", JSON.stringify({ ...ociImage, config: { ...config, size: "12" } }), 'config size must be a non-negative integer, got "12"'],
    ["huge size", JSON.stringify({ ...ociImage, config: { ...config, size: 2 ** 60 } }), "config size must be a non-negative integer"],
    ["missing mediaType", JSON.stringify({ ...ociImage, layers: [{ digest: dg("1"), size: 1 }] }), "layers[0] has no mediaType"],
    ["bad platform", JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_OCI_INDEX, manifests: [{ ...layer, platform: { os: "linux" } }] }), 'manifests[0].platform needs string "os" and "architecture"'],
    ["bad annotations", JSON.stringify({ ...ociImage, annotations: { a: 1 } }), 'annotations["a"] must be a string'],
    ["bad urls", JSON.stringify({ ...ociImage, layers: [{ ...layer, urls: [1] }] }), "layers[0].urls must be an array of strings"],
  ])("refuses %s", (_n, text, msg) => {
    const e = thrown(() => parseManifest(text));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toContain(msg);
  });

  test("size 0 and empty layers are fine (empty config blob, artifacts)", () => {
    const m = parseManifest(enc({ ...ociImage, config: { ...config, size: 0 }, layers: [] }));
    if (m.kind !== "image") throw new Error();
    expect(m.config.size).toBe(0);
    expect(m.layers).toEqual([]);
  });
});

// ---- platforms -------------------------------------------------------------------------------

function entry(c: string, platform?: Partial<Platform> & { os: string; architecture: string }, annotations?: Record<string, string>): Descriptor {
  const d: Descriptor = { mediaType: MEDIA_OCI_MANIFEST, digest: dg(c), size: 500 };
  if (platform) d.platform = platform as Platform;
  if (annotations) d.annotations = annotations;
  return d;
}
const index = (...manifests: Descriptor[]): IndexManifest => ({ kind: "index", mediaType: MEDIA_OCI_INDEX, schemaVersion: 2, manifests });

describe("platforms", () => {
  test("hostPlatform is linux with a normalised architecture", () => {
    const p = hostPlatform();
    expect(p.os).toBe("linux");
    const expected: Record<string, string> = { x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386" };
    expect(p.architecture).toBe(expected[process.arch] ?? process.arch);
    if (p.architecture !== "arm") expect(p.variant).toBeUndefined();
  });

  test.each([
    ["linux/amd64", { os: "linux", architecture: "amd64" }],
    ["linux/arm64", { os: "linux", architecture: "arm64" }],
    ["linux/arm64/v8", { os: "linux", architecture: "arm64", variant: "v8" }],
    ["linux/arm64/8", { os: "linux", architecture: "arm64", variant: "v8" }],
    ["linux/arm/v6", { os: "linux", architecture: "arm", variant: "v6" }],
    ["linux/arm", { os: "linux", architecture: "arm", variant: "v7" }],
    ["linux/aarch64", { os: "linux", architecture: "arm64" }],
    ["linux/x86_64", { os: "linux", architecture: "amd64" }],
    ["Linux/AMD64", { os: "linux", architecture: "amd64" }],
    ["linux/amd64/v1", { os: "linux", architecture: "amd64" }],
    ["linux/amd64/v3", { os: "linux", architecture: "amd64", variant: "v3" }],
    ["linux/s390x", { os: "linux", architecture: "s390x" }],
    ["linux/i386", { os: "linux", architecture: "386" }],
  ])("parsePlatform(%s)", (s, want) => {
    expect(parsePlatform(s)).toEqual(want);
  });

  test.each(["linux", "", "linux/", "/amd64", "linux/amd64/v8/x", "linux/amd 64", "linux//v8"])("parsePlatform(%p) fails", (s) => {
    const e = thrown(() => parsePlatform(s));
    expect(e).toBeInstanceOf(UsageError);
    expect(e.message).toBe(`invalid platform "${s}": expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`);
  });

  const multi = index(
    entry("a", { os: "linux", architecture: "amd64" }),
    entry("b", { os: "linux", architecture: "arm", variant: "v6" }),
    entry("c", { os: "linux", architecture: "arm", variant: "v7" }),
    entry("d", { os: "linux", architecture: "arm64", variant: "v8" }),
    entry("e", { os: "linux", architecture: "386" }),
    entry("f", { os: "linux", architecture: "ppc64le" }),
    entry("9", { os: "windows", architecture: "amd64" }),
  );

  test.each([
    ["linux/amd64", "a"],
    ["linux/arm64", "d"], // arm64 without a variant takes the v8 entry
    ["linux/arm64/v8", "d"],
    ["linux/arm/v7", "c"],
    ["linux/arm/v6", "b"],
    ["linux/arm/v8", "c"], // nothing for v8: the best lower variant
    ["linux/386", "e"],
    ["linux/ppc64le", "f"],
    ["windows/amd64", "9"],
  ])("selectManifest(%s)", (p, want) => {
    expect(selectManifest(multi, parsePlatform(p)).digest).toBe(dg(want));
  });

  test("exact variant is preferred over a compatible one, whatever the order", () => {
    const idx = index(
      entry("1", { os: "linux", architecture: "arm64", variant: "v8" }),
      entry("2", { os: "linux", architecture: "arm64" }),
      entry("3", { os: "linux", architecture: "arm", variant: "v5" }),
      entry("4", { os: "linux", architecture: "arm", variant: "v7" }),
    );
    expect(selectManifest(idx, parsePlatform("linux/arm64")).digest).toBe(dg("2"));
    expect(selectManifest(idx, parsePlatform("linux/arm64/v8")).digest).toBe(dg("1"));
    expect(selectManifest(idx, parsePlatform("linux/arm/v7")).digest).toBe(dg("4"));
    expect(selectManifest(idx, parsePlatform("linux/arm/v6")).digest).toBe(dg("3"));
  });

  test("amd64: plain entry for a plain host; v3 host accepts v2 and plain", () => {
    const idx = index(entry("1", { os: "linux", architecture: "amd64", variant: "v3" }), entry("2", { os: "linux", architecture: "amd64" }));
    expect(selectManifest(idx, parsePlatform("linux/amd64")).digest).toBe(dg("2"));
    expect(selectManifest(idx, parsePlatform("linux/amd64/v3")).digest).toBe(dg("1"));
    const only2 = index(entry("5", { os: "linux", architecture: "amd64", variant: "v2" }), entry("6", { os: "linux", architecture: "amd64" }));
    expect(selectManifest(only2, parsePlatform("linux/amd64/v4")).digest).toBe(dg("5"));
    expect(() => selectManifest(index(entry("7", { os: "linux", architecture: "amd64", variant: "v3" })), parsePlatform("linux/amd64"))).toThrow(
      "no image found in manifest list for platform linux/amd64 (available: linux/amd64/v3)",
    );
  });

  test("entries without platform and attestation manifests are never chosen", () => {
    const idx = index(
      entry("1"),
      entry("2", { os: "unknown", architecture: "unknown" }),
      entry("3", { os: "linux", architecture: "amd64" }, { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": dg("4") }),
      entry("4", { os: "linux", architecture: "amd64" }),
    );
    expect(selectManifest(idx, parsePlatform("linux/amd64")).digest).toBe(dg("4"));
    const onlyJunk = index(entry("1"), entry("2", { os: "unknown", architecture: "unknown" }));
    expect(() => selectManifest(onlyJunk, parsePlatform("linux/amd64"))).toThrow("(available: none)");
  });

  test("no match lists the available platforms", () => {
    const idx = index(
      entry("1", { os: "linux", architecture: "amd64" }),
      entry("2", { os: "linux", architecture: "arm64", variant: "v8" }),
      entry("3", { os: "unknown", architecture: "unknown" }),
    );
    const e = thrown(() => selectManifest(idx, parsePlatform("linux/s390x")));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toBe("no image found in manifest list for platform linux/s390x (available: linux/amd64, linux/arm64/v8)");
  });

  test("os must match", () => {
    const idx = index(entry("1", { os: "windows", architecture: "amd64" }));
    expect(() => selectManifest(idx, parsePlatform("linux/amd64"))).toThrow("(available: windows/amd64)");
  });

  test("defaults to the host platform", () => {
    const h = hostPlatform();
    const idx = index(entry("1", { os: "linux", architecture: "made-up" }), entry("2", { ...h }));
    expect(selectManifest(idx).digest).toBe(dg("2"));
  });

  test("works on a parsed index", () => {
    const parsed = parseManifest(
      enc({
        schemaVersion: 2,
        mediaType: MEDIA_OCI_INDEX,
        manifests: [
          { mediaType: MEDIA_OCI_MANIFEST, digest: dg("1"), size: 1, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
          { mediaType: MEDIA_OCI_MANIFEST, digest: dg("2"), size: 1, platform: { os: "linux", architecture: "amd64" } },
        ],
      }),
    );
    if (parsed.kind !== "index") throw new Error();
    expect(selectManifest(parsed, { os: "linux", architecture: "aarch64" }).digest).toBe(dg("1"));
  });
});
