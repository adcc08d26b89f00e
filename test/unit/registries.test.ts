import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TspodError, UsageError } from "../../src/errors.ts";
import { parseReference, refString } from "../../src/image/reference.ts";
import {
  type LoadRegistriesOptions,
  type RegistriesConf,
  emptyRegistriesConf,
  findRegistry,
  isBlocked,
  isInsecure,
  loadRegistriesConf,
  matchPrefix,
  parseRegistriesConf,
  registriesConfPaths,
  registryFor,
  resolveShortName,
} from "../../src/image/registries.ts";
import { thrown } from "../helpers/thrown.ts";

let dir: string;
let opts: LoadRegistriesOptions;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tspod-regconf-"));
  mkdirSync(join(dir, "home"));
  opts = {
    env: {},
    home: join(dir, "home"),
    uid: 1000,
    systemPath: join(dir, "etc", "registries.conf"),
    aliasCachePath: join(dir, "cache", "short-name-aliases.conf"),
  };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function write(rel: string, text: string): string {
  const p = join(dir, rel);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, text);
  return p;
}


const strs = (refs: { registry: string; repository: string; tag?: string; digest?: string }[]) =>
  refs.map((r) => refString({ ...r, fullyQualified: true }));

describe("loading files", () => {
  test("no files at all: docker.io is the search registry, permissive mode", () => {
    const c = loadRegistriesConf(opts);
    expect(c.unqualifiedSearchRegistries).toEqual(["docker.io"]);
    expect(c.unqualifiedSearchRegistriesOrigin).toBeUndefined();
    expect(c.shortNameMode).toBe("permissive");
    expect(c.registries).toEqual([]);
    expect(c.aliases.size).toBe(0);
    expect(c.files).toEqual([]);
    expect(c.credentialHelpers).toEqual(["containers-auth.json"]);
  });

  test("system file with every key", () => {
    const p = write(
      "etc/registries.conf",
      `
unqualified-search-registries = ["quay.io", "docker.io"]
short-name-mode = "enforcing"
credential-helpers = ["containers-auth.json", "pass"]
some-future-key = 1

[aliases]
"fedora" = "registry.fedoraproject.org/fedora"
"ubi8/ubi" = "registry.access.redhat.com/ubi8/ubi"
"alpine" = "docker.io/alpine"

[[registry]]
prefix = "example.com/foo"
location = "mirror.local:5000/bar/"
insecure = true
[[registry.mirror]]
location = "m1.local"
insecure = true
pull-from-mirror = "digest-only"
[[registry.mirror]]
location = "m2.local/ns"

[[registry]]
location = "blocked.io"
blocked = true
`,
    );
    const c = loadRegistriesConf(opts);
    expect(c.files).toEqual([p]);
    expect(c.unqualifiedSearchRegistries).toEqual(["quay.io", "docker.io"]);
    expect(c.unqualifiedSearchRegistriesOrigin).toBe(p);
    expect(c.shortNameMode).toBe("enforcing");
    expect(c.credentialHelpers).toEqual(["containers-auth.json", "pass"]);
    expect(c.registries).toEqual([
      { prefix: "blocked.io", location: "blocked.io", insecure: false, blocked: true, mirrorByDigestOnly: false, mirrors: [] },
      {
        prefix: "example.com/foo",
        location: "mirror.local:5000/bar",
        insecure: true,
        blocked: false,
        mirrorByDigestOnly: false,
        mirrors: [
          { location: "m1.local", insecure: true, pullFromMirror: "digest-only" },
          { location: "m2.local/ns", insecure: false },
        ],
      },
    ]);
    expect([...c.aliases.keys()]).toEqual(["fedora", "ubi8/ubi", "alpine"]);
    expect(refString(c.aliases.get("alpine")!.value!)).toBe("docker.io/library/alpine");
    expect(c.aliases.get("fedora")!.origin).toBe(p);
  });

  test("per-user file replaces the system file and only the user drop-ins are read", () => {
    write("etc/registries.conf", `unqualified-search-registries = ["system.io"]`);
    write("etc/registries.conf.d/10-sys.conf", `short-name-mode = "disabled"`);
    const user = write("home/.config/containers/registries.conf", `unqualified-search-registries = ["user.io"]`);
    const drop = write("home/.config/containers/registries.conf.d/50.conf", `[aliases]\n"x" = "quay.io/x/x"`);
    const c = loadRegistriesConf(opts);
    expect(c.files).toEqual([user, drop]);
    expect(c.unqualifiedSearchRegistries).toEqual(["user.io"]);
    expect(c.shortNameMode).toBe("permissive");
    expect(c.aliases.has("x")).toBe(true);
  });

  test("XDG_CONFIG_HOME moves the per-user file", () => {
    const user = write("xdg/containers/registries.conf", `unqualified-search-registries = ["xdg.io"]`);
    const c = loadRegistriesConf({ ...opts, env: { XDG_CONFIG_HOME: join(dir, "xdg") } });
    expect(c.files).toEqual([user]);
    expect(c.unqualifiedSearchRegistries).toEqual(["xdg.io"]);
  });

  test("without a per-user file: system file, system drop-ins, then user drop-ins, each in name order", () => {
    const sys = write("etc/registries.conf", `unqualified-search-registries = ["a.io"]\nshort-name-mode = "enforcing"`);
    const d2 = write("etc/registries.conf.d/20-b.conf", `unqualified-search-registries = ["b.io"]`);
    const d1 = write("etc/registries.conf.d/10-a.conf", `short-name-mode = "disabled"`);
    write("etc/registries.conf.d/30-ignored.conf.bak", `unqualified-search-registries = ["ignored.io"]`);
    mkdirSync(join(dir, "etc/registries.conf.d/40-dir.conf"));
    const u = write("home/.config/containers/registries.conf.d/00-user.conf", `unqualified-search-registries = ["user.io"]`);
    const c = loadRegistriesConf(opts);
    expect(c.files).toEqual([sys, d1, d2, u]);
    expect(c.unqualifiedSearchRegistries).toEqual(["user.io"]);
    expect(c.unqualifiedSearchRegistriesOrigin).toBe(u);
    expect(c.shortNameMode).toBe("disabled");
  });

  test("drop-ins merge [[registry]] by prefix (later wins), aliases by key, empty alias removes", () => {
    write(
      "etc/registries.conf",
      `
[aliases]
"keep" = "quay.io/keep/keep"
"gone" = "quay.io/gone/gone"
"over" = "quay.io/old/over"
[[registry]]
location = "a.io"
insecure = true
[[registry]]
location = "b.io"
`,
    );
    write(
      "etc/registries.conf.d/01.conf",
      `
[aliases]
"gone" = ""
"over" = "quay.io/new/over"
[[registry]]
location = "a.io"
blocked = true
[[registry]]
location = "c.io"
`,
    );
    const c = loadRegistriesConf(opts);
    expect(c.registries.map((r) => [r.prefix, r.insecure, r.blocked])).toEqual([
      ["a.io", false, true],
      ["b.io", false, false],
      ["c.io", false, false],
    ]);
    expect(refString(c.aliases.get("keep")!.value!)).toBe("quay.io/keep/keep");
    expect(c.aliases.get("gone")!.value).toBeUndefined();
    expect(refString(c.aliases.get("over")!.value!)).toBe("quay.io/new/over");
    // the reset alias does not resolve: search registries are used instead
    expect(strs(resolveShortName("gone", c))).toEqual(["docker.io/library/gone:latest"]);
  });

  test("CONTAINERS_REGISTRIES_CONF overrides the main file and must exist", () => {
    write("home/.config/containers/registries.conf", `unqualified-search-registries = ["user.io"]`);
    const o = write("other.conf", `unqualified-search-registries = ["override.io"]`);
    const c = loadRegistriesConf({ ...opts, env: { CONTAINERS_REGISTRIES_CONF: o } });
    expect(c.unqualifiedSearchRegistries).toEqual(["override.io"]);
    expect(c.files[0]).toBe(o);
    const missing = join(dir, "nope.conf");
    const e = thrown(() => loadRegistriesConf({ ...opts, env: { CONTAINERS_REGISTRIES_CONF: missing } }));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toBe(`registries configuration ${missing} does not exist`);
    expect(registriesConfPaths({ ...opts, path: o }).main).toBe(o);
  });

  test("alias cache wins over registries.conf aliases", () => {
    write("etc/registries.conf", `[aliases]\n"busybox" = "quay.io/conf/busybox"`);
    const cache = write("cache/short-name-aliases.conf", `[aliases]\n"busybox" = "quay.io/cache/busybox"`);
    const c = loadRegistriesConf(opts);
    expect(refString(c.aliases.get("busybox")!.value!)).toBe("quay.io/cache/busybox");
    expect(c.files.at(-1)).toBe(cache);
    const noCache = loadRegistriesConf({ ...opts, aliasCachePath: null });
    expect(refString(noCache.aliases.get("busybox")!.value!)).toBe("quay.io/conf/busybox");
  });

  test("v1 format in the main file is converted", () => {
    write(
      "etc/registries.conf",
      `
[registries.search]
registries = ["quay.io", "docker.io"]
[registries.insecure]
registries = ["localhost:5000"]
[registries.block]
registries = ["bad.io"]
`,
    );
    const c = loadRegistriesConf(opts);
    expect(c.unqualifiedSearchRegistries).toEqual(["quay.io", "docker.io"]);
    expect(isInsecure("localhost:5000", c)).toBe(true);
    expect(isBlocked("bad.io", c)).toBe(true);
  });
});

describe("invalid files", () => {
  test.each([
    ["TOML syntax", `unqualified-search-registries = [`, "invalid registries configuration"],
    ["scheme in location", `[[registry]]\nlocation = "https://example.com"`, 'invalid location "https://example.com": URI schemes are not supported'],
    ["no location or prefix", `[[registry]]\ninsecure = true`, "both location and prefix are unset"],
    ["prefix without location", `[[registry]]\nprefix = "example.com"`, 'location is unset and prefix "example.com" is not in the format *.example.com'],
    ["wildcard with namespace", `[[registry]]\nprefix = "*.example.com/foo"\nlocation = "x.io"`, "wildcarded prefix should be in the format *.example.com"],
    ["wildcard with port", `[[registry]]\nprefix = "*.example.com:5000"`, "wildcarded prefix should be in the format"],
    ["mirror without location", `[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\ninsecure = true`, "mirror location is unset"],
    ["pull-from-mirror on primary", `[[registry]]\nlocation = "a.io"\npull-from-mirror = "all"`, 'pull-from-mirror must not be set for a non-mirror registry "a.io"'],
    ["bad pull-from-mirror", `[[registry]]\nlocation = "a.io"\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "sometimes"`, 'unsupported pull-from-mirror value "sometimes"'],
    ["both mirror rules", `[[registry]]\nlocation = "a.io"\nmirror-by-digest-only = true\n[[registry.mirror]]\nlocation = "m.io"\npull-from-mirror = "all"`, "at the same time"],
    ["conflicting insecure", `[[registry]]\nprefix = "a.io/x"\nlocation = "a.io"\ninsecure = true\n[[registry]]\nprefix = "a.io/y"\nlocation = "a.io"`, "conflicting 'insecure' setting"],
    ["conflicting blocked", `[[registry]]\nprefix = "a.io/x"\nlocation = "a.io"\nblocked = true\n[[registry]]\nprefix = "a.io/y"\nlocation = "a.io"`, "conflicting 'blocked' setting"],
    ["bad short-name-mode", `short-name-mode = "prompt"`, 'invalid short-name mode "prompt"'],
    ["bad search entry", `unqualified-search-registries = ["quay.io/ns"]`, 'invalid unqualified-search-registries entry "quay.io/ns"'],
    ["search not strings", `unqualified-search-registries = [1]`, "unqualified-search-registries must be an array of strings"],
    ["insecure not bool", `[[registry]]\nlocation = "a.io"\ninsecure = "yes"`, "insecure must be true or false"],
    ["alias with tag", `[aliases]\n"x" = "quay.io/x:1"`, 'invalid alias "quay.io/x:1": must not contain a tag'],
    ["alias without registry", `[aliases]\n"x" = "foo/x"`, 'invalid alias "foo/x": must contain registry and repository'],
    ["alias name with registry", `[aliases]\n"quay.io/x" = "quay.io/x"`, 'invalid short name "quay.io/x": must not contain a registry'],
    ["alias name with tag", `[aliases]\n"x:1" = "quay.io/x"`, 'invalid short name "x:1": must not contain a tag'],
    ["mixing v1 and v2", `unqualified-search-registries = ["a.io"]\n[registries.search]\nregistries = ["b.io"]`, "mixing the v1"],
  ])("%s", (_n, text, msg) => {
    const p = write("etc/registries.conf", text);
    const e = thrown(() => loadRegistriesConf(opts));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toStartWith(`invalid registries configuration ${p}: `);
    expect(e.message).toContain(msg);
  });

  test("drop-ins must be v2", () => {
    write("etc/registries.conf.d/a.conf", `[registries.search]\nregistries = ["b.io"]`);
    expect(() => loadRegistriesConf(opts)).toThrow("drop-in files must use the v2 format");
  });

  test("within one file the first entry for a prefix wins", () => {
    const f = parseRegistriesConf(`[[registry]]\nprefix = "a.io"\nlocation = "one.io"\n[[registry]]\nprefix = "a.io"\nlocation = "two.io"`, "x.conf");
    expect(f.registries.map((r) => r.location)).toEqual(["one.io"]);
  });
});

function conf(text: string): RegistriesConf {
  write("etc/registries.conf", text);
  return loadRegistriesConf(opts);
}

describe("resolveShortName", () => {
  test("default: docker.io with library/ and latest", () => {
    const c = emptyRegistriesConf();
    expect(strs(resolveShortName("busybox", c))).toEqual(["docker.io/library/busybox:latest"]);
    expect(strs(resolveShortName("user/app:1", c))).toEqual(["docker.io/user/app:1"]);
  });

  test("each search registry in order; library/ only on docker.io", () => {
    const c = conf(`unqualified-search-registries = ["quay.io", "docker.io", "localhost:5000"]`);
    expect(strs(resolveShortName("busybox", c))).toEqual([
      "quay.io/busybox:latest",
      "docker.io/library/busybox:latest",
      "localhost:5000/busybox:latest",
    ]);
    const D = "sha256:" + "e".repeat(64);
    expect(strs(resolveShortName(`ns/app@${D}`, c))).toEqual([`quay.io/ns/app@${D}`, `docker.io/ns/app@${D}`, `localhost:5000/ns/app@${D}`]);
    expect(resolveShortName("busybox", c).every((r) => r.fullyQualified)).toBe(true);
  });

  test("fully qualified names are just themselves (aliases and search ignored)", () => {
    const c = conf(`unqualified-search-registries = ["quay.io"]\n[aliases]\n"busybox" = "quay.io/alias/busybox"`);
    expect(strs(resolveShortName("docker.io/busybox", c))).toEqual(["docker.io/library/busybox:latest"]);
    expect(strs(resolveShortName("localhost/busybox:2", c))).toEqual(["localhost/busybox:2"]);
    expect(strs(resolveShortName("127.0.0.1:5000/a/b", c))).toEqual(["127.0.0.1:5000/a/b:latest"]);
  });

  test("alias first; the tag or digest the user gave is kept", () => {
    const c = conf(`unqualified-search-registries = ["quay.io", "docker.io"]\n[aliases]\n"busybox" = "registry.example.com/tools/busybox"\n"ubi8/ubi" = "registry.access.redhat.com/ubi8/ubi"`);
    expect(strs(resolveShortName("busybox", c))).toEqual(["registry.example.com/tools/busybox:latest"]);
    expect(strs(resolveShortName("busybox:1.36", c))).toEqual(["registry.example.com/tools/busybox:1.36"]);
    expect(strs(resolveShortName("ubi8/ubi", c))).toEqual(["registry.access.redhat.com/ubi8/ubi:latest"]);
    // "library/busybox" is a different short name than "busybox"
    expect(strs(resolveShortName("library/busybox", c))).toEqual(["quay.io/library/busybox:latest", "docker.io/library/busybox:latest"]);
  });

  test("an explicitly empty search list with no alias is an error", () => {
    const c = conf(`unqualified-search-registries = []`);
    const e = thrown(() => resolveShortName("busybox", c));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toBe(
      `short-name "busybox" did not resolve to an alias and no unqualified-search registries are defined in "${join(dir, "etc", "registries.conf")}"`,
    );
    expect(strs(resolveShortName("quay.io/x", c))).toEqual(["quay.io/x:latest"]);
  });

  test("malformed names are usage errors", () => {
    expect(() => resolveShortName("Busybox", emptyRegistriesConf())).toThrow(UsageError);
  });
});

describe("registry lookup", () => {
  test.each([
    ["example.com", "example.com", 11],
    ["example.com/foo", "example.com", 11],
    ["example.com:5000/foo", "example.com", 11], // containers/image quirk, kept
    ["example.community/foo", "example.com", -1],
    ["example.com/foo/bar", "example.com/foo", 15],
    ["example.com/foobar", "example.com/foo", -1],
    ["example.com", "example.com/foo", -1],
    ["a.example.com/x", "*.example.com", 13],
    ["a.b.example.com/x", "*.example.com", 15],
    ["a.example.com:5000/x", "*.example.com", 13],
    ["example.com/x", "*.example.com", -1],
    ["evil.com/a.example.com", "*.example.com", -1],
    ["a.example.com.evil.org/x", "*.example.com", -1],
  ])("matchPrefix(%s, %s) = %d", (name, prefix, n) => {
    expect(matchPrefix(name, prefix)).toBe(n);
  });

  test("longest prefix wins; wildcards; registryFor rewrites location and lists mirrors then primary", () => {
    const c = conf(`
[[registry]]
prefix = "example.com"
location = "example-mirror.io"
[[registry]]
prefix = "example.com/team"
location = "internal.example.io:5000/mirrors/team"
insecure = true
[[registry.mirror]]
location = "m1.local:5000/team"
insecure = true
[[registry.mirror]]
location = "m2.local/t"
pull-from-mirror = "tag-only"
[[registry.mirror]]
location = "m3.local/t"
pull-from-mirror = "digest-only"
[[registry]]
prefix = "*.corp.io"
insecure = true
[[registry]]
prefix = "*.pinned.io"
location = "pinned-cache.io/all"
`);
    expect(findRegistry("example.com/team/app", c)!.prefix).toBe("example.com/team");
    expect(findRegistry("example.com/other/app", c)!.prefix).toBe("example.com");
    expect(findRegistry("nothing.io/x", c)).toBeUndefined();

    const tagged = registryFor(parseReference("example.com/team/app:1"), c);
    expect(tagged.location).toBe("internal.example.io:5000");
    expect(tagged.repository).toBe("mirrors/team/app");
    expect(tagged.insecure).toBe(true);
    expect(tagged.endpoints.map((e) => [refString(e.reference), e.insecure, e.mirror])).toEqual([
      ["m1.local:5000/team/app:1", true, true],
      ["m2.local/t/app:1", false, true],
      ["internal.example.io:5000/mirrors/team/app:1", true, false],
    ]);

    const D = "sha256:" + "d".repeat(64);
    const digested = registryFor(parseReference(`example.com/team/app@${D}`), c);
    expect(digested.endpoints.map((e) => refString(e.reference))).toEqual([
      `m1.local:5000/team/app@${D}`,
      `m3.local/t/app@${D}`,
      `internal.example.io:5000/mirrors/team/app@${D}`,
    ]);

    const other = registryFor(parseReference("example.com/x"), c);
    expect(other.endpoints.map((e) => refString(e.reference))).toEqual(["example-mirror.io/x"]);

    // wildcard without location: the reference as it is, with the entry's settings
    const corp = registryFor(parseReference("git.corp.io/a/b:2"), c);
    expect(corp.endpoints.map((e) => [refString(e.reference), e.insecure])).toEqual([["git.corp.io/a/b:2", true]]);
    expect(corp.location).toBe("git.corp.io");
    // wildcard with location: the matched host is replaced
    const pinned = registryFor(parseReference("x.pinned.io/a:3"), c);
    expect(refString(pinned.reference)).toBe("pinned-cache.io/all/a:3");

    // no entry: the reference itself, secure
    const none = registryFor(parseReference("busybox"), c);
    expect(none.entry).toBeUndefined();
    expect(none.location).toBe("docker.io");
    expect(none.repository).toBe("library/busybox");
    expect(none.insecure).toBe(false);
    expect(none.endpoints.map((e) => [refString(e.reference), e.insecure, e.mirror])).toEqual([["docker.io/library/busybox", false, false]]);
  });

  test("longest prefix wins between wildcards too", () => {
    const c = conf(`
[[registry]]
prefix = "*.a.example.com"
location = "deep.io"
[[registry]]
prefix = "*.example.com"
location = "shallow.io"
`);
    expect(findRegistry("x.a.example.com/r", c)!.prefix).toBe("*.a.example.com");
    expect(findRegistry("x.b.example.com/r", c)!.prefix).toBe("*.example.com");
    expect(refString(registryFor(parseReference("x.a.example.com/r:1"), c).reference)).toBe("deep.io/r:1");
  });

  test("docker.io prefix with a mirror, mirror-by-digest-only", () => {
    const c = conf(`
[[registry]]
prefix = "docker.io"
location = "docker.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "hub-cache.local:5000"
`);
    const byTag = registryFor(parseReference("busybox:1"), c);
    expect(byTag.endpoints.map((e) => refString(e.reference))).toEqual(["docker.io/library/busybox:1"]);
    const D = "sha256:" + "a".repeat(64);
    const byDigest = registryFor(parseReference(`busybox@${D}`), c);
    expect(byDigest.endpoints.map((e) => [refString(e.reference), e.mirror])).toEqual([
      [`hub-cache.local:5000/library/busybox@${D}`, true],
      [`docker.io/library/busybox@${D}`, false],
    ]);
  });

  test("blocked registry throws; isInsecure reads the conf only", () => {
    const c = conf(`
[[registry]]
location = "blocked.io"
blocked = true
[[registry]]
location = "localhost:5000"
insecure = true
[[registry]]
prefix = "blocked.io/allowed"
location = "blocked.io/allowed"
blocked = false
`);
    const e = thrown(() => registryFor(parseReference("blocked.io/x/y"), c));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toBe("registry blocked.io is blocked in registries.conf");
    // a longer, unblocked prefix on the same host is allowed
    expect(registryFor(parseReference("blocked.io/allowed/y"), c).endpoints).toHaveLength(1);
    expect(isInsecure("localhost:5000", c)).toBe(true);
    // nothing is plain-HTTP by default, not even loopback
    expect(isInsecure("localhost", c)).toBe(false);
    expect(isInsecure("127.0.0.1:5000", c)).toBe(false);
    expect(isInsecure("[::1]:5000", c)).toBe(false);
    expect(isBlocked("blocked.io", c)).toBe(true);
    expect(isBlocked("localhost:5000", c)).toBe(false);
  });

  test("a location that is not a registry host is refused when rewriting", () => {
    const c = conf(`[[registry]]\nprefix = "example.com"\nlocation = "nohost"`);
    expect(() => registryFor(parseReference("example.com/x"), c)).toThrow('location "nohost" for prefix "example.com" does not name a registry host');
  });
});
