// What push sends: the manifest converted between OCI and Docker v2s2 (--format),
// and the destination references it takes.
import { describe, expect, test } from "bun:test";
import { convertManifest, pushDestination } from "../../src/image/push.ts";
import { TspodError, UsageError } from "../../src/errors.ts";
import { parseManifest } from "../../src/image/manifest.ts";
import { thrown } from "../helpers/thrown.ts";

const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
const dec = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b));
const D = (c: string) => `sha256:${c.repeat(64)}`;

const OCI = {
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.manifest.v1+json",
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: D("c"), size: 391, annotations: { a: "b" } },
  layers: [
    { mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: D("1"), size: 100 },
    { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: D("2"), size: 200 },
    { mediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", digest: D("3"), size: 300, urls: ["https://example.com/l"] },
  ],
  annotations: { "org.opencontainers.image.created": "2026-01-01T00:00:00Z" },
};

describe("convertManifest", () => {
  test("OCI to v2s2: Docker's media types for the same blobs, in the field order of Docker's Go struct (size before digest); annotations have no place there", () => {
    const out = convertManifest(enc(OCI), OCI.mediaType, "v2s2");
    expect(out.mediaType).toBe("application/vnd.docker.distribution.manifest.v2+json");
    expect(new TextDecoder().decode(out.bytes)).toBe(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: "application/vnd.docker.distribution.manifest.v2+json",
        config: { mediaType: "application/vnd.docker.container.image.v1+json", size: 391, digest: D("c") },
        layers: [
          { mediaType: "application/vnd.docker.image.rootfs.diff.tar.gzip", size: 100, digest: D("1") },
          { mediaType: "application/vnd.docker.image.rootfs.diff.tar", size: 200, digest: D("2") },
          { mediaType: "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", size: 300, digest: D("3"), urls: ["https://example.com/l"] },
        ],
      }),
    );
    // tspod's own parser takes it as an image manifest with the same blobs
    const parsed = parseManifest(out.bytes, out.mediaType);
    expect(parsed.kind).toBe("image");
  });

  test("v2s2 back to OCI gives the OCI types again; the same format is left byte for byte", () => {
    const v2 = convertManifest(enc(OCI), OCI.mediaType, "v2s2");
    const backBytes = convertManifest(v2.bytes, v2.mediaType, "oci").bytes;
    const back = dec(backBytes);
    // OCI's Go order: mediaType, digest, size
    expect(new TextDecoder().decode(backBytes)).toContain(`{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${D("c")}","size":391}`);
    expect(back.mediaType).toBe(OCI.mediaType);
    expect(back.config.mediaType).toBe(OCI.config.mediaType);
    expect(back.layers.map((l: any) => l.mediaType)).toEqual(OCI.layers.map((l) => l.mediaType));
    const same = enc(OCI);
    expect(convertManifest(same, OCI.mediaType, "oci").bytes).toBe(same);
  });

  test("a zstd layer, or a config that is not an image's, cannot be written as v2s2", () => {
    const z = { ...OCI, layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+zstd", digest: D("1"), size: 1 }] };
    const e = thrown(() => convertManifest(enc(z), OCI.mediaType, "v2s2"));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toContain("layer 1 is application/vnd.oci.image.layer.v1.tar+zstd");
    const art = { ...OCI, config: { mediaType: "application/vnd.example.thing+json", digest: D("c"), size: 2 } };
    expect(thrown(() => convertManifest(enc(art), OCI.mediaType, "v2s2")).message).toContain("its config is application/vnd.example.thing+json");
  });
});

describe("pushDestination", () => {
  test("a name, docker://, a short name (docker.io), the tag latest by default", () => {
    expect(pushDestination("127.0.0.1:5000/a/b:1")).toMatchObject({ registry: "127.0.0.1:5000", repository: "a/b", tag: "1" });
    expect(pushDestination("docker://quay.io/x/y")).toMatchObject({ registry: "quay.io", repository: "x/y", tag: "latest" });
    expect(pushDestination("busybox")).toMatchObject({ registry: "docker.io", repository: "library/busybox", tag: "latest" });
  });
  test("refused: a digest, other transports, a bad reference", () => {
    expect(thrown(() => pushDestination(`r.io/a@${D("a")}`))).toBeInstanceOf(UsageError);
    expect(thrown(() => pushDestination("dir:/tmp/x")).message).toContain("the dir transport is not supported");
    expect(thrown(() => pushDestination("oci-archive:/tmp/x.tar")).message).toContain("the oci-archive transport");
    expect(thrown(() => pushDestination("A/B")).message).toContain("invalid reference format");
  });
});
