// Registry credentials in Podman's auth.json (containers-auth.json(5)), read like
// containers/image's pkg/docker/config.
//
// The file written by login/logout (authFilePath):
//   1. $REGISTRY_AUTH_FILE when set (then it is also the only file read);
//   2. $XDG_RUNTIME_DIR/containers/auth.json when XDG_RUNTIME_DIR is set;
//   3. rootless: /run/user/UID/containers/auth.json when that directory is ours (rootless Podman
//      sets XDG_RUNTIME_DIR to it when it is unset, so both tools share the file);
//   4. rootless with no runtime directory at all (`su USER`, no systemd): $XDG_CONFIG_HOME (or
//      ~/.config)/containers/auth.json. Podman would use a per-boot temp directory here; tspod
//      picks the persistent file Podman also reads as its second choice;
//   5. root: /run/containers/0/auth.json.
// Read after it, read-only and in this order: $XDG_CONFIG_HOME/containers/auth.json,
// $DOCKER_CONFIG/config.json or ~/.docker/config.json, and ~/.dockercfg (legacy format).
//
// Keys: "host", "host/namespace" or "host/namespace/repo" (most specific match wins), and the
// legacy Docker forms "https://index.docker.io/v1/" / "http://host/..." matched by host.
// Credential helpers (credHelpers, credsStore) are not run.
import { writeFileAtomic } from "../storage/atomic.ts";
import { ownedDir } from "../context.ts";
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { TspodError, errno } from "../errors.ts";

export interface Credentials {
  username: string;
  password: string;
  /** OAuth2 refresh token (Docker's "identitytoken"), when the file has one */
  identityToken?: string;
  /** the file the credentials came from */
  source: string;
}

export interface AuthOptions {
  env?: Record<string, string | undefined>;
  home?: string;
  uid?: number;
  /** explicit auth file (--authfile); like $REGISTRY_AUTH_FILE, it is then the only file */
  authFile?: string;
}

export interface AuthFile {
  path: string;
  /** ~/.dockercfg: the top level is the auths map, keys are URLs */
  legacyFormat: boolean;
}

interface Resolved {
  env: Record<string, string | undefined>;
  home: string;
  uid: number;
}

function resolve(opts: AuthOptions): Resolved {
  const env = opts.env ?? process.env;
  return { env, home: opts.home ?? env.HOME ?? homedir(), uid: opts.uid ?? process.getuid?.() ?? 0 };
}

function configHome(r: Resolved): string {
  const x = r.env.XDG_CONFIG_HOME;
  return x && x.startsWith("/") ? x : join(r.home, ".config");
}


/** The auth file login writes and logout edits. */
export function authFilePath(opts: AuthOptions = {}): string {
  return primary(opts).path;
}

function primary(opts: AuthOptions): { path: string; explicit: boolean; runtimeDir?: string } {
  const r = resolve(opts);
  const explicit = opts.authFile ?? (r.env.REGISTRY_AUTH_FILE || undefined);
  if (explicit) return { path: explicit, explicit: true };
  const xdg = r.env.XDG_RUNTIME_DIR;
  if (xdg) return { path: join(xdg, "containers", "auth.json"), explicit: false, runtimeDir: xdg };
  if (r.uid === 0) return { path: "/run/containers/0/auth.json", explicit: false };
  const run = `/run/user/${r.uid}`;
  if (ownedDir(run, r.uid)) return { path: join(run, "containers", "auth.json"), explicit: false };
  return { path: join(configHome(r), "containers", "auth.json"), explicit: false };
}

/** Every file consulted for credentials, in order (some may not exist). */
export function authFileReadPaths(opts: AuthOptions = {}): AuthFile[] {
  const r = resolve(opts);
  const p = primary(opts);
  const out: AuthFile[] = [];
  // A runtime dir that is set but missing is skipped for reading (Podman warns and goes on).
  if (!p.runtimeDir || exists(p.runtimeDir)) out.push({ path: p.path, legacyFormat: false });
  if (p.explicit) return out;
  out.push({ path: join(configHome(r), "containers", "auth.json"), legacyFormat: false });
  const dockerConfig = r.env.DOCKER_CONFIG;
  out.push({ path: dockerConfig ? join(dockerConfig, "config.json") : join(r.home, ".docker", "config.json"), legacyFormat: false });
  out.push({ path: join(r.home, ".dockercfg"), legacyFormat: true });
  // The fallback in primary() may equal the XDG config file: read it once.
  const seen = new Set<string>();
  return out.filter((f) => (seen.has(f.path) ? false : (seen.add(f.path), true)));
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Check an auth key: a registry host[:port], optionally with a namespace/repository path. No
 * scheme, no tag, no digest. Returns the registry part.
 */
export function validateAuthKey(key: string): { registry: string; namespaced: boolean } {
  if (key === "") throw new TspodError("invalid registry key: empty");
  if (key.startsWith("http://") || key.startsWith("https://")) {
    throw new TspodError(`invalid registry key "${key}": contains an http[s]:// prefix`);
  }
  if (key.includes("@")) throw new TspodError(`invalid registry key "${key}": contains a '@' character`);
  const slash = key.indexOf("/");
  if (slash !== -1 && key.slice(slash + 1).includes(":")) {
    throw new TspodError(`invalid registry key "${key}": contains a ':' character after host[:port]`);
  }
  return { registry: slash === -1 ? key : key.slice(0, slash), namespaced: slash !== -1 };
}

/**
 * The auth key for what login/logout were given: a URL ("https://host:5000/v2/")
 * stands for its host[:port] alone, as in Podman; a registry/namespace is kept.
 */
export function authKeyOf(arg: string): string {
  const m = /^https?:\/\/([^/?#]*)/.exec(arg);
  return m ? m[1]! : arg.replace(/\/+$/, "");
}

/** Docker Hub's names all mean one registry in auth files. */
function normalizeRegistry(host: string): string {
  return host === "registry-1.docker.io" || host === "docker.io" ? "index.docker.io" : host;
}

/** A legacy key ("https://index.docker.io/v1/", "http://host:5000") reduced to its host. */
function normalizeFileKey(key: string, legacy: boolean): string {
  let s = key.replace(/^https?:\/\//, "");
  if (legacy || s !== key) s = s.split("/")[0]!;
  return normalizeRegistry(s);
}

export function encodeAuth(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`, "utf8").toString("base64");
}

/** Decode an "auth" field; undefined for an empty or colon-less entry (Docker skips those). */
export function decodeAuth(auth: string, where = "auth"): { username: string; password: string } | undefined {
  const clean = auth.trim();
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 !== 0) {
    throw new TspodError(`invalid "auth" field in ${where}: not base64`);
  }
  const decoded = Buffer.from(clean, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon === -1) return undefined;
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1).replace(/^\0+|\0+$/g, "") };
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Read an auth file; undefined when it does not exist. */
function readAuthFile(path: string): Json | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    const code = errno(e);
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new TspodError(`cannot read auth file ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new TspodError(`invalid auth file ${path}: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw new TspodError(`invalid auth file ${path}: not a JSON object`);
  return doc;
}

function authsOf(doc: Json, file: AuthFile): Json {
  if (file.legacyFormat) return doc;
  const a = doc.auths;
  if (a === undefined || a === null) return {};
  if (!isObject(a)) throw new TspodError(`invalid auth file ${file.path}: "auths" is not an object`);
  return a;
}

function entryCredentials(entry: unknown, key: string, file: AuthFile): Credentials | undefined {
  if (!isObject(entry)) return undefined;
  const auth = typeof entry.auth === "string" ? entry.auth : "";
  const token = typeof entry.identitytoken === "string" && entry.identitytoken !== "" ? entry.identitytoken : undefined;
  const up = auth === "" ? undefined : decodeAuth(auth, `entry "${key}" of ${file.path}`);
  if (!up) return undefined;
  const c: Credentials = { username: up.username, password: up.password, source: file.path };
  if (token) c.identityToken = token;
  return c;
}

/**
 * Credentials for a registry ("quay.io", "localhost:5000") or a repository within one
 * ("quay.io/ns/repo": tries quay.io/ns/repo, quay.io/ns, quay.io). First file that has a match wins.
 */
export function getCredentials(key: string, opts: AuthOptions = {}): Credentials | undefined {
  const { registry } = validateAuthKey(key);
  for (const file of authFileReadPaths(opts)) {
    const doc = readAuthFile(file.path);
    if (!doc) continue;
    const auths = authsOf(doc, file);
    const candidates: string[] = [];
    if (file.legacyFormat) candidates.push(registry);
    else for (let k = key; ; k = k.slice(0, k.lastIndexOf("/"))) {
      candidates.push(k);
      if (!k.includes("/")) break;
    }
    let found = false;
    for (const k of candidates) {
      if (Object.hasOwn(auths, k)) {
        found = true;
        const c = entryCredentials(auths[k], k, file);
        if (c) return c;
        break; // an empty entry (credential-helper marker) ends the search in this file
      }
    }
    if (found) continue;
    const want = normalizeRegistry(registry);
    for (const [k, v] of Object.entries(auths)) {
      if (normalizeFileKey(k, file.legacyFormat) === want) {
        const c = entryCredentials(v, k, file);
        if (c) return c;
        break;
      }
    }
  }
  return undefined;
}

// ---- writing ---------------------------------------------------------------------------------

/** Atomic 0600 writes live in storage/atomic.ts; re-exported for callers of this module. */
export { writeFileAtomic };

/** Read-modify-write the primary auth file. `edit` returns true when it changed something. */
function editAuthFile(opts: AuthOptions, edit: (auths: Json, doc: Json) => boolean, create: boolean): string {
  const p = primary(opts);
  if (p.runtimeDir && !exists(p.runtimeDir)) {
    throw new TspodError(
      `"${p.runtimeDir}" directory set by $XDG_RUNTIME_DIR does not exist. Either create the directory or unset $XDG_RUNTIME_DIR`,
    );
  }
  const file: AuthFile = { path: p.path, legacyFormat: false };
  const existing = readAuthFile(p.path);
  if (!existing && !create) return p.path;
  const doc: Json = existing ?? {};
  const auths = authsOf(doc, file);
  if (!edit(auths, doc)) return p.path;
  doc.auths = auths;
  try {
    mkdirSync(dirname(p.path), { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new TspodError(`cannot create ${dirname(p.path)}: ${(e as Error).message}`);
  }
  writeFileAtomic(p.path, JSON.stringify(doc, null, "\t") + "\n", 0o600);
  return p.path;
}

/** Store credentials for a registry (or registry/namespace). Returns the file written. */
export function setCredentials(key: string, username: string, password: string, opts: AuthOptions = {}): string {
  validateAuthKey(key);
  return editAuthFile(
    opts,
    (auths) => {
      const prev = auths[key];
      // Keep fields we don't own (e.g. "email") unless they are credentials we replace.
      const entry: Json = isObject(prev) ? { ...prev } : {};
      delete entry.identitytoken;
      entry.auth = encodeAuth(username, password);
      auths[key] = entry;
      return true;
    },
    true,
  );
}

/** Remove the credentials stored under exactly this key. Returns false when there were none. */
export function removeCredentials(key: string, opts: AuthOptions = {}): boolean {
  validateAuthKey(key);
  let removed = false;
  editAuthFile(
    opts,
    (auths) => {
      if (!Object.hasOwn(auths, key)) return false;
      delete auths[key];
      removed = true;
      return true;
    },
    false,
  );
  return removed;
}

/** Remove every credential in the primary auth file; other top-level keys stay. Returns the path. */
export function removeAll(opts: AuthOptions = {}): string {
  return editAuthFile(
    opts,
    (auths) => {
      const had = Object.keys(auths).length > 0;
      for (const k of Object.keys(auths)) delete auths[k];
      return had;
    },
    false,
  );
}
