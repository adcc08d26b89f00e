import { describe, expect, test } from "bun:test";
import { UsageError } from "../../src/errors.ts";
import {
  familiarName,
  familiarString,
  isImageIdLike,
  isValidTag,
  parseReference,
  pullReference,
  refName,
  refString,
  trimReference,
  tryParseReference,
  withDefaultTag,
  withDigest,
  withTag,
} from "../../src/image/reference.ts";

const D64 = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
const D512 = "sha512:" + "f".repeat(128);
const HEX = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

// [input, registry, repository, tag, digest, fullyQualified]
type Row = [string, string, string, string | undefined, string | undefined, boolean];
const valid: Row[] = [
  ["busybox", "docker.io", "library/busybox", undefined, undefined, false],
  ["busybox:latest", "docker.io", "library/busybox", "latest", undefined, false],
  ["busybox:1.36.1-musl", "docker.io", "library/busybox", "1.36.1-musl", undefined, false],
  ["library/busybox", "docker.io", "library/busybox", undefined, undefined, false],
  ["docker.io/busybox", "docker.io", "library/busybox", undefined, undefined, true],
  ["docker.io/library/busybox", "docker.io", "library/busybox", undefined, undefined, true],
  ["index.docker.io/busybox", "docker.io", "library/busybox", undefined, undefined, true],
  ["index.docker.io/library/debian", "docker.io", "library/debian", undefined, undefined, true],
  ["index.docker.io/docker/docker", "docker.io", "docker/docker", undefined, undefined, true],
  ["docker/docker", "docker.io", "docker/docker", undefined, undefined, false],
  ["dmcgowan/myapp:latest", "docker.io", "dmcgowan/myapp", "latest", undefined, false],
  ["library/foo/bar", "docker.io", "library/foo/bar", undefined, undefined, false],
  ["docker.io/library/foo/bar", "docker.io", "library/foo/bar", undefined, undefined, true],
  ["store/foo/bar", "docker.io", "store/foo/bar", undefined, undefined, false],
  ["other/library", "docker.io", "other/library", undefined, undefined, false],
  ["test_com", "docker.io", "library/test_com", undefined, undefined, false],
  ["test_com/foo", "docker.io", "test_com/foo", undefined, undefined, false],
  ["test.com:tag", "docker.io", "library/test.com", "tag", undefined, false],
  ["test.com:5000", "docker.io", "library/test.com", "5000", undefined, false],
  ["test.com/repo:tag", "test.com", "repo", "tag", undefined, true],
  ["test:5000/repo", "test:5000", "repo", undefined, undefined, true],
  ["test:5000/repo:tag", "test:5000", "repo", "tag", undefined, true],
  [`test:5000/repo@${D64}`, "test:5000", "repo", undefined, D64, true],
  [`test:5000/repo:tag@${D64}`, "test:5000", "repo", "tag", D64, true],
  ["test-com:8080/foo", "test-com:8080", "foo", undefined, undefined, true],
  ["lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", undefined, false],
  ["sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "bar/baz/quux", undefined, undefined, true],
  ["sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", undefined, true],
  ["b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", undefined, true],
  ["xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", undefined, true],
  [`xn--7o8h.com/myimage:xn--7o8h.com@${D512}`, "xn--7o8h.com", "myimage", "xn--7o8h.com", D512, true],
  ["xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", undefined, undefined, true],
  ["foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", undefined, false],
  ["foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", undefined, false],
  ["192.168.1.1", "docker.io", "library/192.168.1.1", undefined, undefined, false],
  ["192.168.1.1:tag", "docker.io", "library/192.168.1.1", "tag", undefined, false],
  ["192.168.1.1:5000", "docker.io", "library/192.168.1.1", "5000", undefined, false],
  ["192.168.1.1/repo", "192.168.1.1", "repo", undefined, undefined, true],
  ["192.168.1.1:5000/repo", "192.168.1.1:5000", "repo", undefined, undefined, true],
  ["192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", undefined, true],
  ["127.0.0.1:5000/docker/docker", "127.0.0.1:5000", "docker/docker", undefined, undefined, true],
  ["127.0.0.1:5000/library/debian", "127.0.0.1:5000", "library/debian", undefined, undefined, true],
  ["127.0.0.1:5000/debian", "127.0.0.1:5000", "debian", undefined, undefined, true],
  ["192.168.0.1:8/debian", "192.168.0.1:8", "debian", undefined, undefined, true],
  ["localhost/busybox", "localhost", "busybox", undefined, undefined, true],
  ["localhost:5000/busybox:1", "localhost:5000", "busybox", "1", undefined, true],
  ["localhost", "docker.io", "library/localhost", undefined, undefined, false],
  ["localhost:5000", "docker.io", "library/localhost", "5000", undefined, false],
  ["[2001:db8::1]/repo", "[2001:db8::1]", "repo", undefined, undefined, true],
  ["[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", undefined, true],
  ["[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "repo", undefined, undefined, true],
  ["[2001:db8::1]:5000/repo:tag", "[2001:db8::1]:5000", "repo", "tag", undefined, true],
  [`[2001:db8::1]:5000/repo@${D64}`, "[2001:db8::1]:5000", "repo", undefined, D64, true],
  [`[2001:db8::1]:5000/repo:tag@${D64}`, "[2001:db8::1]:5000", "repo", "tag", D64, true],
  ["[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", undefined, undefined, true],
  ["[::1]:5000/repo", "[::1]:5000", "repo", undefined, undefined, true],
  ["[fc00::1]:5000/docker/docker", "[fc00::1]:5000", "docker/docker", undefined, undefined, true],
  ["thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", undefined, undefined, false],
  [`docker.io/${HEX}`, "docker.io", `library/${HEX}`, undefined, undefined, true],
  [`${HEX.slice(0, 63)}`, "docker.io", `library/${HEX.slice(0, 63)}`, undefined, undefined, false],
  ["docker-rules/docker", "docker.io", "docker-rules/docker", undefined, undefined, false],
  ["docker---rules/docker", "docker.io", "docker---rules/docker", undefined, undefined, false],
  ["d/docker", "docker.io", "d/docker", undefined, undefined, false],
  ["jess/t", "docker.io", "jess/t", undefined, undefined, false],
  ["dock__er/docker", "docker.io", "dock__er/docker", undefined, undefined, false],
  ["example.com/a_b/c-d.e__f", "example.com", "a_b/c-d.e__f", undefined, undefined, true],
  ["Example.COM:443/x", "Example.COM:443", "x", undefined, undefined, true],
];

describe("parseReference: valid references", () => {
  test.each(valid)("%s", (input, registry, repository, tag, digest, fq) => {
    const r = parseReference(input);
    expect(r.registry).toBe(registry);
    expect(r.repository).toBe(repository);
    expect(r.tag).toBe(tag);
    expect(r.digest).toBe(digest);
    expect(r.fullyQualified).toBe(fq);
    expect(Object.keys(r).sort()).toEqual(
      ["registry", "repository", "fullyQualified", ...(tag ? ["tag"] : []), ...(digest ? ["digest"] : [])].sort(),
    );
  });
});

// [input, substring of the message]
const invalid: [string, string][] = [
  ["", "must have at least one component"],
  [":justtag", "must have at least one component"],
  [`@${D64}`, "must have at least one component"],
  ["repo@sha256:ffffffffffffffffffffffffffffffffff", "sha256 needs 64 hex digits, got 34"],
  [`validname@invaliddigest:${"f".repeat(64)}`, 'unsupported digest algorithm "invaliddigest"'],
  ["repo@sha256:" + "F".repeat(64), "hex digits must be lowercase"],
  ["repo@sha256:abc", "sha256 needs 64 hex digits, got 3"],
  ["Uppercase:tag", "repository name must be lowercase"],
  ["Busybox", "repository name must be lowercase"],
  ["test:5000/Uppercase/lowercase:tag", "repository name must be lowercase"],
  ["docker/Docker", "repository name must be lowercase"],
  ["docker.io/docker/Docker", "repository name must be lowercase"],
  // Podman splits the domain only on "." ":" or "localhost", so "Docker/docker" is an uppercase path.
  ["Docker/docker", "repository name must be lowercase"],
  ["aa/asdf$$^/aa", "repository path components"],
  ["https://github.com/docker/docker", "is not a valid registry host"],
  ["-docker", "repository path components"],
  ["-docker/docker", "repository path components"],
  ["-docker.io/docker/docker", "is not a valid registry host"],
  ["docker///docker", "repository path components"],
  ["docker.io/docker///docker", "repository path components"],
  ["docker-/docker", "repository path components"],
  ["-docker-/docker", "repository path components"],
  ["____/____", "repository path components"],
  ["_docker/_docker", "repository path components"],
  ["dock..er/docker", "is not a valid registry host"],
  ["dock_.er/docker", "is not a valid registry host"],
  ["dock-.er/docker", "is not a valid registry host"],
  ["docker/", "repository path components"],
  ["[2001:db8::1]", "repository path components"],
  ["[2001:db8::1]:5000", "repository path components"],
  ["[2001:db8::1]:tag", "repository path components"],
  ["[fc00::1]", "repository path components"],
  ["[fc00::1]:5000", "repository path components"],
  ["fc00::1:5000/debian", "is not a valid registry host"],
  ["[fe80::1%eth0]:5000/repo", "is not a valid registry host"],
  ["[fe80::1%@invalidzone]:5000/repo", "is not a valid registry host"],
  ["[2001:db8:3:4::192.0.2.33]:5000/debian", "is not a valid registry host"],
  [HEX, "64-byte hexadecimal"],
  ["busybox:-tag", 'invalid tag "-tag"'],
  ["busybox:" + "a".repeat(129), "invalid tag"],
  ["busybox:a b", "invalid tag"],
  ["busybox@", "invalid digest"],
  ["a".repeat(2000), "must not be more than 255 characters"],
  [
    "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
    "must not be more than 255 characters",
  ],
  // distribution's own boundary case: 255 path characters on docker.io make a 265-character name
  // (Podman's vendored copy counts the domain too).
  ["a/".repeat(127) + "a:tag-puts-this-over-max", "must not be more than 255 characters"],
  ["a/".repeat(128) + "a:tag", "must not be more than 255 characters"],
];

describe("parseReference: invalid references", () => {
  test.each(invalid)("%s", (input, msg) => {
    let err: unknown;
    try {
      parseReference(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toContain(msg);
    expect((err as Error).message.startsWith("invalid reference format: ")).toBe(true);
  });
});

test("error message names the input and the reason exactly", () => {
  expect(() => parseReference("Busybox")).toThrow('invalid reference format: "Busybox": repository name must be lowercase');
  expect(() => parseReference("")).toThrow('invalid reference format: "": repository name must have at least one component');
});

test("name length boundary: 255 accepted, 256 refused", () => {
  // "quay.io/" is 8 characters; pad the path to reach the limit exactly.
  const ok = "quay.io/" + "a".repeat(247);
  expect(ok.length).toBe(255);
  expect(parseReference(ok).repository).toBe("a".repeat(247));
  expect(() => parseReference(ok + "a")).toThrow("must not be more than 255 characters");
  // On docker.io the implied "docker.io/" counts: path of 245 is the maximum.
  expect(parseReference("a/" + "b".repeat(243)).repository.length).toBe(245);
  expect(() => parseReference("a/" + "b".repeat(244))).toThrow("255");
});

test("tag boundary: 128 characters accepted, 129 refused", () => {
  expect(parseReference("x:" + "t".repeat(128)).tag).toBe("t".repeat(128));
  expect(tryParseReference("x:" + "t".repeat(129))).toBeUndefined();
  expect(isValidTag("_underscore")).toBe(true);
  expect(isValidTag(".dot")).toBe(false);
});

test("pathological input is rejected fast", () => {
  const t = performance.now();
  expect(tryParseReference("a-".repeat(100000) + "!")).toBeUndefined();
  expect(tryParseReference("a-".repeat(400) + "!")).toBeUndefined();
  expect(performance.now() - t).toBeLessThan(200);
});

describe("canonical and familiar strings", () => {
  const rows: [string, string, string, string][] = [
    // input, refString, familiarString, familiarName
    ["busybox", "docker.io/library/busybox", "busybox", "busybox"],
    ["busybox:latest", "docker.io/library/busybox:latest", "busybox:latest", "busybox"],
    ["ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base", "ubuntu-12.04-base"],
    ["index.docker.io/library/ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base", "ubuntu-12.04-base"],
    ["fooo/bar", "docker.io/fooo/bar", "fooo/bar", "fooo/bar"],
    ["index.docker.io/fooo/bar", "docker.io/fooo/bar", "fooo/bar", "fooo/bar"],
    ["library/foo/bar", "docker.io/library/foo/bar", "library/foo/bar", "library/foo/bar"],
    ["127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase"],
    ["example.com:8000/privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee"],
    [`redis@${D64}`, `docker.io/library/redis@${D64}`, `redis@${D64}`, "redis"],
    [`busybox:latest@${D64}`, `docker.io/library/busybox:latest@${D64}`, `busybox:latest@${D64}`, "busybox"],
    ["localhost/foo:1", "localhost/foo:1", "localhost/foo:1", "localhost/foo"],
  ];
  test.each(rows)("%s", (input, canonical, familiar, fname) => {
    const r = parseReference(input);
    expect(refString(r)).toBe(canonical);
    expect(familiarString(r)).toBe(familiar);
    expect(familiarName(r)).toBe(fname);
    // The canonical string parses back to the same reference (except for fullyQualified).
    expect({ ...parseReference(canonical), fullyQualified: r.fullyQualified }).toEqual(r);
  });
});

test("withDefaultTag, withTag, withDigest, trimReference, pullReference", () => {
  const r = parseReference("busybox");
  expect(refString(withDefaultTag(r))).toBe("docker.io/library/busybox:latest");
  expect(refString(withDefaultTag(parseReference("busybox:1")))).toBe("docker.io/library/busybox:1");
  expect(refString(withDefaultTag(parseReference(`busybox@${D64}`)))).toBe(`docker.io/library/busybox@${D64}`);
  expect(r.tag).toBeUndefined(); // not mutated
  expect(refString(withTag(r, "TAG5"))).toBe("docker.io/library/busybox:TAG5");
  expect(() => withTag(r, "-foo")).toThrow(UsageError);
  expect(refString(withDigest(withTag(r, "x"), D64))).toBe(`docker.io/library/busybox:x@${D64}`);
  expect(() => withDigest(r, "foo")).toThrow(UsageError);
  expect(refString(trimReference(parseReference(`quay.io/a/b:1@${D64}`)))).toBe("quay.io/a/b");
  expect(refString(pullReference(parseReference(`busybox:latest@${D64}`)))).toBe(`docker.io/library/busybox@${D64}`);
  expect(refString(pullReference(parseReference("busybox")))).toBe("docker.io/library/busybox:latest");
  expect(refName(parseReference("quay.io/a/b:1"))).toBe("quay.io/a/b");
});

test("isImageIdLike", () => {
  expect(isImageIdLike(HEX)).toBe(true);
  expect(isImageIdLike(`sha256:${HEX}`)).toBe(true);
  expect(isImageIdLike(HEX.slice(1))).toBe(false);
  expect(isImageIdLike(HEX.toUpperCase())).toBe(false);
  expect(isImageIdLike("busybox")).toBe(false);
  expect(isImageIdLike(`sha512:${HEX}`)).toBe(false);
});
