import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TspodError } from "../../src/errors.ts";
import {
  type AuthOptions,
  authFilePath,
  authFileReadPaths,
  decodeAuth,
  encodeAuth,
  getCredentials,
  removeAll,
  removeCredentials,
  setCredentials,
  validateAuthKey,
  writeFileAtomic,
} from "../../src/image/auth.ts";
import { thrown } from "../helpers/thrown.ts";

let dir: string;
let home: string;
let run: string;
let opts: AuthOptions;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "tspod-auth-"));
  home = join(dir, "home");
  run = join(dir, "run");
  mkdirSync(home);
  mkdirSync(run);
  // uid 4242 has no /run/user/4242 here, so nothing outside dir is ever touched.
  opts = { env: { XDG_RUNTIME_DIR: run }, home, uid: 4242 };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const b64 = (s: string) => Buffer.from(s).toString("base64");
function writeJson(path: string, v: unknown) {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, JSON.stringify(v));
}

describe("paths", () => {
  test("REGISTRY_AUTH_FILE is the only file", () => {
    const f = join(dir, "my-auth.json");
    const o = { ...opts, env: { ...opts.env, REGISTRY_AUTH_FILE: f } };
    expect(authFilePath(o)).toBe(f);
    expect(authFileReadPaths(o)).toEqual([{ path: f, legacyFormat: false }]);
    expect(authFilePath({ ...opts, authFile: "/x/y.json" })).toBe("/x/y.json");
  });

  test("XDG_RUNTIME_DIR first, then config, docker, dockercfg", () => {
    expect(authFilePath(opts)).toBe(join(run, "containers", "auth.json"));
    expect(authFileReadPaths(opts)).toEqual([
      { path: join(run, "containers", "auth.json"), legacyFormat: false },
      { path: join(home, ".config", "containers", "auth.json"), legacyFormat: false },
      { path: join(home, ".docker", "config.json"), legacyFormat: false },
      { path: join(home, ".dockercfg"), legacyFormat: true },
    ]);
  });

  test("XDG_CONFIG_HOME and DOCKER_CONFIG are honoured", () => {
    const o = { ...opts, env: { ...opts.env, XDG_CONFIG_HOME: join(dir, "cfg"), DOCKER_CONFIG: join(dir, "dk") } };
    expect(authFileReadPaths(o).map((f) => f.path)).toEqual([
      join(run, "containers", "auth.json"),
      join(dir, "cfg", "containers", "auth.json"),
      join(dir, "dk", "config.json"),
      join(home, ".dockercfg"),
    ]);
  });

  test("rootless without any runtime dir falls back to the config file (read once)", () => {
    const o = { env: {}, home, uid: 4242 };
    expect(authFilePath(o)).toBe(join(home, ".config", "containers", "auth.json"));
    expect(authFileReadPaths(o).map((f) => f.path)).toEqual([
      join(home, ".config", "containers", "auth.json"),
      join(home, ".docker", "config.json"),
      join(home, ".dockercfg"),
    ]);
  });

  test("root without XDG_RUNTIME_DIR uses /run/containers/0", () => {
    expect(authFilePath({ env: {}, home, uid: 0 })).toBe("/run/containers/0/auth.json");
  });

  test("a runtime dir that is set but missing: skipped for reading, error for writing", () => {
    const gone = join(dir, "gone");
    const o = { ...opts, env: { XDG_RUNTIME_DIR: gone } };
    expect(authFileReadPaths(o)[0]!.path).toBe(join(home, ".config", "containers", "auth.json"));
    const e = thrown(() => setCredentials("quay.io", "u", "p", o));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toContain(`"${gone}" directory set by $XDG_RUNTIME_DIR does not exist`);
    expect(existsSync(gone)).toBe(false);
  });
});

describe("getCredentials", () => {
  test("nothing anywhere", () => {
    expect(getCredentials("quay.io", opts)).toBeUndefined();
  });

  test("host key, base64 user:pass, password may contain ':'", () => {
    const f = join(run, "containers", "auth.json");
    writeJson(f, { auths: { "quay.io": { auth: b64("alice:s3:cr3t") } } });
    expect(getCredentials("quay.io", opts)).toEqual({ username: "alice", password: "s3:cr3t", source: f });
    expect(getCredentials("quay.io/ns/repo", opts)).toEqual({ username: "alice", password: "s3:cr3t", source: f });
    expect(getCredentials("docker.io", opts)).toBeUndefined();
  });

  test("the most specific namespace key wins", () => {
    writeJson(join(run, "containers", "auth.json"), {
      auths: {
        "quay.io": { auth: b64("host:1") },
        "quay.io/team": { auth: b64("team:2") },
        "quay.io/team/app": { auth: b64("app:3") },
      },
    });
    expect(getCredentials("quay.io/team/app", opts)?.username).toBe("app");
    expect(getCredentials("quay.io/team/other", opts)?.username).toBe("team");
    expect(getCredentials("quay.io/elsewhere/x", opts)?.username).toBe("host");
    expect(getCredentials("quay.io", opts)?.username).toBe("host");
  });

  test("legacy Docker keys: https://index.docker.io/v1/ matches docker.io; http://host/ matches host", () => {
    const f = join(home, ".docker", "config.json");
    writeJson(f, {
      auths: {
        "https://index.docker.io/v1/": { auth: b64("hubuser:hubpass"), email: "x@y" },
        "http://localhost:5000/v2/": { auth: b64("lu:lp") },
        "registry.example.com": { auth: b64("ru:rp"), identitytoken: "tok" },
      },
      credsStore: "desktop",
    });
    expect(getCredentials("docker.io", opts)).toEqual({ username: "hubuser", password: "hubpass", source: f });
    expect(getCredentials("docker.io/library/busybox", opts)?.username).toBe("hubuser");
    expect(getCredentials("localhost:5000", opts)?.username).toBe("lu");
    expect(getCredentials("registry.example.com", opts)).toEqual({ username: "ru", password: "rp", identityToken: "tok", source: f });
  });

  test("~/.dockercfg legacy format (top-level map of URLs)", () => {
    writeJson(join(home, ".dockercfg"), { "https://index.docker.io/v1/": { auth: b64("old:timer"), email: "e" } });
    expect(getCredentials("docker.io", opts)).toMatchObject({ username: "old", password: "timer" });
  });

  test("files are searched in order; the first with credentials wins", () => {
    const primary = join(run, "containers", "auth.json");
    writeJson(primary, { auths: { "quay.io": { auth: b64("first:1") } } });
    writeJson(join(home, ".config", "containers", "auth.json"), { auths: { "quay.io": { auth: b64("second:2") }, "ghcr.io": { auth: b64("g:2") } } });
    writeJson(join(home, ".docker", "config.json"), { auths: { "ghcr.io": { auth: b64("third:3") }, "gcr.io": { auth: b64("d:3") } } });
    expect(getCredentials("quay.io", opts)?.username).toBe("first");
    expect(getCredentials("ghcr.io", opts)?.username).toBe("g");
    expect(getCredentials("gcr.io", opts)?.username).toBe("d");
  });

  test("an empty entry (credential-helper marker) is skipped for the next file", () => {
    writeJson(join(run, "containers", "auth.json"), { auths: { "quay.io": {} } });
    writeJson(join(home, ".docker", "config.json"), { auths: { "quay.io": { auth: b64("d:p") } } });
    expect(getCredentials("quay.io", opts)?.username).toBe("d");
  });

  test("broken files are errors that name the file", () => {
    const f = join(run, "containers", "auth.json");
    mkdirSync(join(run, "containers"));
    writeFileSync(f, "{not json");
    const e = thrown(() => getCredentials("quay.io", opts));
    expect(e).toBeInstanceOf(TspodError);
    expect(e.message).toStartWith(`invalid auth file ${f}: `);
    writeJson(f, { auths: { "quay.io": { auth: "%%%not base64" } } });
    expect(() => getCredentials("quay.io", opts)).toThrow(`invalid "auth" field in entry "quay.io" of ${f}: not base64`);
  });

  test.each([
    ["https://quay.io", "contains an http[s]:// prefix"],
    ["quay.io/x@sha256:abc", "contains a '@' character"],
    ["quay.io/x:tag", "contains a ':' character after host[:port]"],
    ["", "empty"],
  ])("invalid key %p", (key, msg) => {
    expect(() => getCredentials(key, opts)).toThrow(msg);
  });

  test("validateAuthKey", () => {
    expect(validateAuthKey("localhost:5000")).toEqual({ registry: "localhost:5000", namespaced: false });
    expect(validateAuthKey("localhost:5000/ns")).toEqual({ registry: "localhost:5000", namespaced: true });
  });
});

describe("writing", () => {
  const primary = () => join(run, "containers", "auth.json");
  const tempsIn = (d: string) => readdirSync(d).filter((n) => n.includes(".tmp"));

  test("setCredentials creates the dir 0700 and the file 0600, round-trips", () => {
    const p = setCredentials("localhost:5000", "bob", "pw:with:colons", opts);
    expect(p).toBe(primary());
    expect(statSync(join(run, "containers")).mode & 0o777).toBe(0o700);
    expect(statSync(p).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(p, "utf8"))).toEqual({ auths: { "localhost:5000": { auth: b64("bob:pw:with:colons") } } });
    expect(getCredentials("localhost:5000", opts)).toEqual({ username: "bob", password: "pw:with:colons", source: p });
    expect(tempsIn(join(run, "containers"))).toEqual([]);
  });

  test("mode is exactly 0600 whatever the umask and the old file's mode", () => {
    const old = process.umask(0o000);
    try {
      writeJson(primary(), { auths: {} });
      chmodSync(primary(), 0o644);
      setCredentials("quay.io", "u", "p", opts);
      expect(statSync(primary()).mode & 0o777).toBe(0o600);
      process.umask(0o277); // would leave 0400 without an explicit chmod
      setCredentials("ghcr.io", "u", "p", opts);
      expect(statSync(primary()).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  test("other entries and unknown top-level keys survive set and remove", () => {
    writeJson(primary(), {
      auths: { "quay.io": { auth: b64("q:1") }, "ghcr.io": { auth: b64("g:1"), email: "keep@me" } },
      credHelpers: { "gcr.io": "gcloud" },
      "future-key": { nested: [1, 2] },
    });
    setCredentials("ghcr.io", "g2", "2", opts);
    setCredentials("docker.io", "d", "3", opts);
    let doc = JSON.parse(readFileSync(primary(), "utf8"));
    expect(doc).toEqual({
      auths: {
        "quay.io": { auth: b64("q:1") },
        "ghcr.io": { auth: b64("g2:2"), email: "keep@me" },
        "docker.io": { auth: b64("d:3") },
      },
      credHelpers: { "gcr.io": "gcloud" },
      "future-key": { nested: [1, 2] },
    });
    expect(removeCredentials("quay.io", opts)).toBe(true);
    expect(removeCredentials("quay.io", opts)).toBe(false);
    doc = JSON.parse(readFileSync(primary(), "utf8"));
    expect(Object.keys(doc.auths)).toEqual(["ghcr.io", "docker.io"]);
    expect(doc["future-key"]).toEqual({ nested: [1, 2] });
    expect(tempsIn(join(run, "containers"))).toEqual([]);
  });

  test("namespaced keys are stored as given and removed exactly", () => {
    setCredentials("quay.io/team", "t", "1", opts);
    setCredentials("quay.io", "h", "2", opts);
    expect(getCredentials("quay.io/team/app", opts)?.username).toBe("t");
    expect(removeCredentials("quay.io/team", opts)).toBe(true);
    expect(getCredentials("quay.io/team/app", opts)?.username).toBe("h");
  });

  test("setCredentials replaces an old identity token", () => {
    writeJson(primary(), { auths: { "quay.io": { auth: b64("a:b"), identitytoken: "old" } } });
    setCredentials("quay.io", "c", "d", opts);
    expect(getCredentials("quay.io", opts)).toEqual({ username: "c", password: "d", source: primary() });
  });

  test("removeCredentials and removeAll on a missing file create nothing", () => {
    expect(removeCredentials("quay.io", opts)).toBe(false);
    expect(removeAll(opts)).toBe(primary());
    expect(existsSync(join(run, "containers"))).toBe(false);
  });

  test("removeAll empties auths and keeps the rest", () => {
    writeJson(primary(), { auths: { a: { auth: b64("a:a") }, b: { auth: b64("b:b") } }, credsStore: "x" });
    removeAll(opts);
    expect(JSON.parse(readFileSync(primary(), "utf8"))).toEqual({ auths: {}, credsStore: "x" });
    expect(statSync(primary()).mode & 0o777).toBe(0o600);
  });

  test("docker's files are never written", () => {
    const dk = join(home, ".docker", "config.json");
    writeJson(dk, { auths: { "quay.io": { auth: b64("d:d") } } });
    const before = readFileSync(dk, "utf8");
    expect(removeCredentials("quay.io", opts)).toBe(false);
    setCredentials("ghcr.io", "x", "y", opts);
    expect(readFileSync(dk, "utf8")).toBe(before);
  });

  test("a broken auth file is not overwritten", () => {
    mkdirSync(join(run, "containers"));
    writeFileSync(primary(), "garbage");
    expect(() => setCredentials("quay.io", "u", "p", opts)).toThrow(`invalid auth file ${primary()}`);
    expect(readFileSync(primary(), "utf8")).toBe("garbage");
  });

  test("writeFileAtomic leaves no temp file behind on success or failure", () => {
    const d = join(dir, "atomic");
    mkdirSync(d);
    const target = join(d, "f.json");
    writeFileAtomic(target, "one");
    writeFileAtomic(target, "two");
    expect(readFileSync(target, "utf8")).toBe("two");
    expect(readdirSync(d)).toEqual(["f.json"]);
    // the target is a directory: rename fails, the temp file must be cleaned up
    const asDir = join(d, "sub");
    mkdirSync(join(asDir, "inner"), { recursive: true });
    expect(() => writeFileAtomic(asDir, "x")).toThrow(TspodError);
    expect(readdirSync(d).sort()).toEqual(["f.json", "sub"]);
  });

  test("encodeAuth / decodeAuth", () => {
    expect(encodeAuth("user", "pa:ss")).toBe(b64("user:pa:ss"));
    expect(decodeAuth(b64("user:pa:ss"))).toEqual({ username: "user", password: "pa:ss" });
    expect(decodeAuth(b64("nocolon"))).toBeUndefined();
    expect(decodeAuth(b64("u:p\0\0"))).toEqual({ username: "u", password: "p" });
    expect(decodeAuth(encodeAuth("ünï", "cødé"))).toEqual({ username: "ünï", password: "cødé" });
    expect(() => decodeAuth("abc")).toThrow("not base64");
  });
});

describe("WWW-Authenticate challenges (parseChallenge)", () => {
  test("the first challenge's parameters, quoted or not; a second challenge joined by ', ' (two headers through fetch) is not mixed in", async () => {
    const { parseChallenge } = await import("../../src/image/registry.ts");
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual({
      scheme: "bearer",
      params: { realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/busybox:pull" },
    });
    expect(parseChallenge('Bearer realm="https://a/token",service="reg", Basic realm="Registry Realm"')).toEqual({ scheme: "bearer", params: { realm: "https://a/token", service: "reg" } });
    expect(parseChallenge('Basic realm="Registry Realm", Bearer realm="https://a/token"')).toEqual({ scheme: "basic", params: { realm: "Registry Realm" } });
    expect(parseChallenge('Bearer realm="https://a/t\\"x",service=reg,scope="repository:a:pull,push"')).toEqual({ scheme: "bearer", params: { realm: 'https://a/t"x', service: "reg", scope: "repository:a:pull,push" } });
    expect(parseChallenge("Negotiate abc")).toBeUndefined();
    expect(parseChallenge(undefined)).toBeUndefined();
  });
});
