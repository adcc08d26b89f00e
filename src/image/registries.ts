// registries.conf (containers-registries.conf(5), the v2 TOML format, plus v1 in the main file)
// read the way containers/image's sysregistriesv2 reads it:
//
// - main file: $CONTAINERS_REGISTRIES_CONF if set (must exist); else the per-user file
//   ($XDG_CONFIG_HOME or ~/.config)/containers/registries.conf if it exists; else
//   /etc/containers/registries.conf (may be missing).
// - drop-ins: *.conf in registries.conf.d, read in name order, later files win per key. When the
//   per-user file is the main file only the per-user registries.conf.d is read; otherwise
//   /etc/containers/registries.conf.d and then the per-user one.
// - merging: [[registry]] entries by prefix (later wins), unqualified-search-registries and
//   short-name-mode replaced when a later file sets them, [aliases] merged key by key (an empty
//   value removes an alias).
// - the machine-written short-name alias cache ($XDG_CACHE_HOME/containers/short-name-aliases.conf,
//   /var/cache/containers/... for root) is read and wins over registries.conf aliases; written
//   only when the user picks a candidate at the enforcing mode's prompt (recordShortNameAlias).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../storage/atomic.ts";
import { TspodError, UsageError, errno } from "../errors.ts";
import {
  type Reference,
  DEFAULT_REGISTRY,
  isValidDomain,
  looksLikeDomain,
  parseReference,
  refName,
  withDefaultTag,
} from "./reference.ts";

export const SYSTEM_REGISTRIES_CONF = "/etc/containers/registries.conf";

export type ShortNameMode = "enforcing" | "permissive" | "disabled";
export type PullFromMirror = "all" | "digest-only" | "tag-only";

export interface MirrorConf {
  location: string;
  insecure: boolean;
  pullFromMirror?: PullFromMirror;
}

export interface RegistryConf {
  /** what references it applies to: host, host/namespace..., or *.example.com */
  prefix: string;
  /** where to pull from instead (prefix replaced by location); "" only with a wildcard prefix */
  location: string;
  insecure: boolean;
  blocked: boolean;
  mirrorByDigestOnly: boolean;
  mirrors: MirrorConf[];
}

export interface AliasConf {
  /** undefined when a later file reset the alias with "" */
  value: Reference | undefined;
  /** the file that set it */
  origin: string;
}

export interface RegistriesConf {
  /** hosts to try for short names; ["docker.io"] when no file says anything */
  unqualifiedSearchRegistries: string[];
  /** the file that set unqualifiedSearchRegistries; undefined when defaulted */
  unqualifiedSearchRegistriesOrigin?: string;
  shortNameMode: ShortNameMode;
  aliases: Map<string, AliasConf>;
  /** sorted by prefix, one entry per prefix */
  registries: RegistryConf[];
  credentialHelpers: string[];
  /** files actually read, in order */
  files: string[];
  /** where a short name chosen at a prompt is recorded */
  aliasCache?: string;
}

export interface LoadRegistriesOptions {
  /** explicit main file (like --registries-conf); must exist */
  path?: string;
  env?: Record<string, string | undefined>;
  home?: string;
  uid?: number;
  /** system main file and drop-in dir (tests point these elsewhere) */
  systemPath?: string;
  systemDropInDir?: string;
  /** per-user main file and drop-in dir */
  userPath?: string;
  userDropInDir?: string;
  /** short-name alias cache; null to skip it */
  aliasCachePath?: string | null;
}

/** The defaults for a config nobody wrote. */
export function emptyRegistriesConf(): RegistriesConf {
  return {
    unqualifiedSearchRegistries: [DEFAULT_REGISTRY],
    shortNameMode: "permissive",
    aliases: new Map(),
    registries: [],
    credentialHelpers: ["containers-auth.json"],
    files: [],
  };
}

function configHome(env: Record<string, string | undefined>, home: string): string {
  const x = env.XDG_CONFIG_HOME;
  return x && x.startsWith("/") ? x : join(home, ".config");
}

function cacheHome(env: Record<string, string | undefined>, home: string): string {
  const x = env.XDG_CACHE_HOME;
  return x && x.startsWith("/") ? x : join(home, ".cache");
}

/** Where registries.conf files would be read from, without reading them. */
export function registriesConfPaths(opts: LoadRegistriesOptions = {}): {
  main: string;
  mainRequired: boolean;
  dropInDirs: string[];
  aliasCache?: string;
} {
  const env = opts.env ?? process.env;
  const home = opts.home ?? env.HOME ?? homedir();
  const uid = opts.uid ?? process.getuid?.() ?? 0;
  const systemPath = opts.systemPath ?? SYSTEM_REGISTRIES_CONF;
  const systemDir = opts.systemDropInDir ?? `${systemPath}.d`;
  const userPath = opts.userPath ?? join(configHome(env, home), "containers", "registries.conf");
  const userDir = opts.userDropInDir ?? `${userPath}.d`;
  const aliasCache =
    opts.aliasCachePath === null
      ? undefined
      : (opts.aliasCachePath ??
        (uid === 0
          ? "/var/cache/containers/short-name-aliases.conf"
          : join(cacheHome(env, home), "containers", "short-name-aliases.conf")));

  const explicit = opts.path ?? (env.CONTAINERS_REGISTRIES_CONF || undefined);
  if (explicit) return { main: explicit, mainRequired: true, dropInDirs: [systemDir, userDir], aliasCache };
  if (existsSync(userPath)) return { main: userPath, mainRequired: false, dropInDirs: [userDir], aliasCache };
  return { main: systemPath, mainRequired: false, dropInDirs: [systemDir, userDir], aliasCache };
}

/** Load and merge registries.conf, its drop-ins and the alias cache. */
export function loadRegistriesConf(opts: LoadRegistriesOptions = {}): RegistriesConf {
  const paths = registriesConfPaths(opts);
  const conf = emptyRegistriesConf();
  let searchSet = false;
  const registries = new Map<string, RegistryConf>();

  const apply = (f: ParsedFile) => {
    for (const r of f.registries) registries.set(r.prefix, r);
    if (f.unqualifiedSearchRegistries !== undefined) {
      conf.unqualifiedSearchRegistries = f.unqualifiedSearchRegistries;
      conf.unqualifiedSearchRegistriesOrigin = f.path;
      searchSet = true;
    }
    if (f.shortNameMode !== undefined) conf.shortNameMode = f.shortNameMode;
    if (f.credentialHelpers !== undefined && f.credentialHelpers.length > 0) {
      conf.credentialHelpers = f.credentialHelpers;
    }
    for (const [k, v] of f.aliases) conf.aliases.set(k, v);
    conf.files.push(f.path);
  };

  const main = readIfExists(paths.main);
  if (main === undefined) {
    if (paths.mainRequired) throw new TspodError(`registries configuration ${paths.main} does not exist`);
  } else {
    apply(parseRegistriesConf(main, paths.main, false));
  }
  for (const dir of paths.dropInDirs) {
    for (const file of listDropIns(dir)) {
      const text = readIfExists(file);
      if (text !== undefined) apply(parseRegistriesConf(text, file, true));
    }
  }
  if (paths.aliasCache) {
    const text = readIfExists(paths.aliasCache);
    if (text !== undefined) {
      const f = parseRegistriesConf(text, paths.aliasCache, true);
      for (const [k, v] of f.aliases) conf.aliases.set(k, v);
      conf.files.push(paths.aliasCache);
    }
  }
  conf.registries = [...registries.keys()].sort().map((k) => registries.get(k)!);
  if (!searchSet) delete conf.unqualifiedSearchRegistriesOrigin;
  if (paths.aliasCache) conf.aliasCache = paths.aliasCache;
  return conf;
}

function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const code = errno(e);
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw new TspodError(`cannot read registries configuration ${path}: ${(e as Error).message}`);
  }
}

function listDropIns(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    const code = errno(e);
    if (code === "ENOENT" || code === "ENOTDIR") return [];
    throw new TspodError(`cannot read registries.conf.d directory ${dir}: ${(e as Error).message}`);
  }
  return names
    .filter((n) => n.endsWith(".conf"))
    .sort()
    .map((n) => join(dir, n))
    .filter((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    });
}

// ---- parsing one file ------------------------------------------------------------------------

interface ParsedFile {
  path: string;
  registries: RegistryConf[];
  unqualifiedSearchRegistries?: string[];
  shortNameMode?: ShortNameMode;
  credentialHelpers?: string[];
  aliases: Map<string, AliasConf>;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Parse one registries.conf text. `dropIn` files must use the v2 format. Exported for tests and
 * for `tspod info`-style diagnostics; most callers want loadRegistriesConf.
 */
export function parseRegistriesConf(text: string, path: string, dropIn = false): ParsedFile {
  const fail = (why: string) => new TspodError(`invalid registries configuration ${path}: ${why}`);
  let doc: Record<string, unknown>;
  try {
    doc = Bun.TOML.parse(text) as Record<string, unknown>;
  } catch (e) {
    throw fail((e as Error).message);
  }
  const str = (v: unknown, key: string): string | undefined => {
    if (v === undefined) return undefined;
    if (typeof v !== "string") throw fail(`${key} must be a string`);
    return v;
  };
  const bool = (v: unknown, key: string): boolean => {
    if (v === undefined) return false;
    if (typeof v !== "boolean") throw fail(`${key} must be true or false`);
    return v;
  };
  const strList = (v: unknown, key: string): string[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw fail(`${key} must be an array of strings`);
    return v as string[];
  };

  // v1: [registries.search] registries = [...], [registries.insecure], [registries.block]
  let v1: { search?: string[]; insecure?: string[]; block?: string[] } | undefined;
  if (doc.registries !== undefined) {
    if (!isTable(doc.registries)) throw fail("[registries] must be a table");
    v1 = {};
    for (const k of ["search", "insecure", "block"] as const) {
      const t = doc.registries[k];
      if (t === undefined) continue;
      if (!isTable(t)) throw fail(`[registries.${k}] must be a table`);
      v1[k] = strList(t.registries, `registries.${k}.registries`) ?? [];
    }
    if (!(v1.search?.length || v1.insecure?.length || v1.block?.length)) v1 = undefined;
  }

  const out: ParsedFile = { path, registries: [], aliases: new Map() };
  out.unqualifiedSearchRegistries = strList(doc["unqualified-search-registries"], "unqualified-search-registries");
  out.credentialHelpers = strList(doc["credential-helpers"], "credential-helpers");
  const mode = str(doc["short-name-mode"], "short-name-mode");
  if (mode !== undefined && mode !== "") {
    if (mode !== "enforcing" && mode !== "permissive" && mode !== "disabled") {
      throw fail(`invalid short-name mode "${mode}" (use enforcing, permissive or disabled)`);
    }
    out.shortNameMode = mode;
  }

  const rawRegistries = doc.registry;
  if (rawRegistries !== undefined && !Array.isArray(rawRegistries)) throw fail("registry must be an array of tables ([[registry]])");
  const regs = (rawRegistries ?? []) as unknown[];

  if (v1) {
    if (dropIn) throw fail("drop-in files must use the v2 format, not [registries.search/insecure/block]");
    if (regs.length || out.unqualifiedSearchRegistries?.length || doc.aliases !== undefined) {
      throw fail("mixing the v1 ([registries.*]) and v2 formats is not supported");
    }
    const byLoc = new Map<string, RegistryConf>();
    const get = (loc: string) => {
      const l = parseLocation(loc, fail);
      let r = byLoc.get(l);
      if (!r) {
        r = { prefix: l, location: l, insecure: false, blocked: false, mirrorByDigestOnly: false, mirrors: [] };
        byLoc.set(l, r);
      }
      return r;
    };
    for (const l of v1.block ?? []) get(l).blocked = true;
    for (const l of v1.insecure ?? []) get(l).insecure = true;
    out.unqualifiedSearchRegistries = v1.search;
    regs.length = 0;
    out.registries = [...byLoc.values()];
  }

  for (let i = 0; i < regs.length; i++) {
    const r = regs[i];
    const where = `[[registry]] #${i + 1}`;
    if (!isTable(r)) throw fail(`${where} must be a table`);
    const location = parseLocation(str(r.location, `${where} location`) ?? "", fail);
    let prefix = str(r.prefix, `${where} prefix`) ?? "";
    if (prefix === "") {
      if (location === "") throw fail(`${where}: both location and prefix are unset`);
      prefix = location;
    } else {
      prefix = parseLocation(prefix, fail);
      if (prefix.startsWith("*.")) {
        if (/[/@:]/.test(prefix)) {
          throw fail(`wildcarded prefix should be in the format *.example.com, got "${prefix}"`);
        }
      } else if (location === "") {
        throw fail(`${where}: location is unset and prefix "${prefix}" is not in the format *.example.com`);
      }
    }
    if (r["pull-from-mirror"] !== undefined) {
      throw fail(`pull-from-mirror must not be set for a non-mirror registry "${prefix}"`);
    }
    const mirrorByDigestOnly = bool(r["mirror-by-digest-only"], `${where} mirror-by-digest-only`);
    const mirrors: MirrorConf[] = [];
    if (r.mirror !== undefined && !Array.isArray(r.mirror)) throw fail(`${where} mirror must be an array of tables ([[registry.mirror]])`);
    for (const [j, m] of ((r.mirror ?? []) as unknown[]).entries()) {
      const mw = `${where} mirror #${j + 1}`;
      if (!isTable(m)) throw fail(`${mw} must be a table`);
      const loc = parseLocation(str(m.location, `${mw} location`) ?? "", fail);
      if (loc === "") throw fail(`${mw}: mirror location is unset`);
      const mirror: MirrorConf = { location: loc, insecure: bool(m.insecure, `${mw} insecure`) };
      const pfm = str(m["pull-from-mirror"], `${mw} pull-from-mirror`);
      if (pfm !== undefined && pfm !== "") {
        if (mirrorByDigestOnly) {
          throw fail(`cannot set mirror-by-digest-only for registry "${prefix}" and pull-from-mirror for mirror "${loc}" at the same time`);
        }
        if (pfm !== "all" && pfm !== "digest-only" && pfm !== "tag-only") {
          throw fail(`unsupported pull-from-mirror value "${pfm}" for mirror "${loc}" (use all, digest-only or tag-only)`);
        }
        mirror.pullFromMirror = pfm;
      }
      mirrors.push(mirror);
    }
    out.registries.push({
      prefix,
      location,
      insecure: bool(r.insecure, `${where} insecure`),
      blocked: bool(r.blocked, `${where} blocked`),
      mirrorByDigestOnly,
      mirrors,
    });
  }

  // The same location must not be both secure and insecure, or both blocked and not.
  const byLocation = new Map<string, RegistryConf>();
  for (const r of out.registries) {
    const key = r.location === "" ? r.prefix : r.location;
    const other = byLocation.get(key);
    if (other) {
      if (other.insecure !== r.insecure) throw fail(`registry "${key}" is defined multiple times with conflicting 'insecure' setting`);
      if (other.blocked !== r.blocked) throw fail(`registry "${key}" is defined multiple times with conflicting 'blocked' setting`);
    } else byLocation.set(key, r);
  }
  // Within one file the first entry for a prefix wins (containers/image drops later duplicates).
  const seen = new Set<string>();
  out.registries = out.registries.filter((r) => (seen.has(r.prefix) ? false : (seen.add(r.prefix), true)));

  if (out.unqualifiedSearchRegistries) {
    out.unqualifiedSearchRegistries = out.unqualifiedSearchRegistries.map((u) => {
      const l = parseLocation(u, fail);
      if (!isValidDomain(l)) throw fail(`invalid unqualified-search-registries entry "${u}" (want host[:port])`);
      return l;
    });
  }

  if (doc.aliases !== undefined) {
    if (!isTable(doc.aliases)) throw fail("[aliases] must be a table");
    const errs: string[] = [];
    for (const [name, value] of Object.entries(doc.aliases)) {
      if (typeof value !== "string") {
        errs.push(`alias "${name}" must be a string`);
        continue;
      }
      const nameErr = shortNameProblem(name);
      if (nameErr) {
        errs.push(nameErr);
        continue;
      }
      if (value === "") {
        out.aliases.set(name, { value: undefined, origin: path });
        continue;
      }
      const v = aliasValue(value);
      if (typeof v === "string") errs.push(v);
      else out.aliases.set(name, { value: v, origin: path });
    }
    if (errs.length) throw fail(errs.join("; "));
  }
  return out;
}

function parseLocation(input: string, fail: (why: string) => TspodError): string {
  const trimmed = input.replace(/\/+$/, "");
  if (trimmed.startsWith("http://") || trimmed.startsWith("https://")) {
    throw fail(`invalid location "${input}": URI schemes are not supported`);
  }
  return trimmed;
}

/** An alias name must be a short name: a repository without registry, tag or digest. */
function shortNameProblem(name: string): string | undefined {
  const slash = name.indexOf("/");
  if (slash !== -1 && looksLikeDomain(name.slice(0, slash))) {
    return `invalid short name "${name}": must not contain a registry`;
  }
  if (name.includes("@")) return `invalid short name "${name}": must not contain a digest`;
  if (name.includes(":")) return `invalid short name "${name}": must not contain a tag`;
  try {
    parseReference(name);
  } catch (e) {
    return `invalid short name "${name}": ${(e as Error).message}`;
  }
  return undefined;
}

/** An alias value must be registry/repository, no tag or digest. */
function aliasValue(value: string): Reference | string {
  let r: Reference;
  try {
    r = parseReference(value);
  } catch (e) {
    return `invalid alias "${value}": ${(e as Error).message}`;
  }
  if (r.digest !== undefined) return `invalid alias "${value}": must not contain a digest`;
  if (r.tag !== undefined) return `invalid alias "${value}": must not contain a tag`;
  if (!r.fullyQualified) return `invalid alias "${value}": must contain registry and repository`;
  return r;
}

// ---- short names -----------------------------------------------------------------------------

/**
 * Candidates to pull for what the user typed, in order: the name itself when it names a registry;
 * else the alias when one matches; else the name on each unqualified-search registry. Tags and
 * digests are kept, "latest" added when there is neither. Short-name mode is the caller's
 * concern (several candidates: enforcing asks the user to pick one, or fails without a TTY).
 */
export function resolveShortName(name: string, conf: RegistriesConf): Reference[] {
  const ref = parseReference(name);
  if (ref.fullyQualified) return [withDefaultTag(ref)];

  // The alias key is the name as written, without tag or digest ("busybox", "ubi8/ubi").
  const bare = aliasKey(name);
  const keep = (r: Reference): Reference => {
    const out: Reference = { ...r, fullyQualified: true };
    if (ref.tag !== undefined) out.tag = ref.tag;
    if (ref.digest !== undefined) out.digest = ref.digest;
    return withDefaultTag(out);
  };
  const alias = conf.aliases.get(bare);
  if (alias?.value) return [keep(alias.value)];

  if (conf.unqualifiedSearchRegistries.length === 0) {
    const origin = conf.unqualifiedSearchRegistriesOrigin ?? "registries.conf";
    throw new TspodError(
      `short-name "${name}" did not resolve to an alias and no unqualified-search registries are defined in "${origin}"`,
    );
  }
  return conf.unqualifiedSearchRegistries.map((host) => keep(parseReference(`${host}/${bare}`)));
}

/** A short name without its tag or digest: the key of its alias ("busybox", "ubi8/ubi"). */
function aliasKey(name: string): string {
  const end = name.search(/[:@]/);
  return end === -1 ? name : name.slice(0, end);
}

/**
 * Remember the registry picked for a short name at the prompt, in the alias
 * cache, as Podman does (later pulls of the name go there without asking).
 * The file is machine-written: its aliases are kept and it is replaced whole.
 */
export function recordShortNameAlias(conf: RegistriesConf, name: string, chosen: Reference): void {
  const path = conf.aliasCache;
  if (!path) return;
  const text = readIfExists(path);
  const aliases = new Map<string, string>();
  if (text !== undefined) for (const [k, v] of parseRegistriesConf(text, path, true).aliases) if (v.value) aliases.set(k, refName(v.value));
  aliases.set(aliasKey(name), refName(chosen));
  const lines = [...aliases].map(([k, v]) => `  ${JSON.stringify(k)} = ${JSON.stringify(v)}`);
  writeFileAtomic(path, `[aliases]\n${lines.join("\n")}\n`, 0o644);
}

// ---- registry lookup and pull endpoints ----------------------------------------------------

/** Length of the part of `name` matched by `prefix`, or -1. `name` is registry/repository. */
export function matchPrefix(name: string, prefix: string): number {
  if (prefix.startsWith("*.")) {
    const tail = prefix.slice(1); // ".example.com"
    const i = name.indexOf(tail);
    if (i === -1 || name.slice(0, i).includes("/")) return -1;
    const end = i + tail.length;
    if (end === name.length) return end;
    return ":/@".includes(name[end]!) ? end : -1;
  }
  if (name.length < prefix.length) return -1;
  if (name.length === prefix.length) return name === prefix ? prefix.length : -1;
  if (!name.startsWith(prefix)) return -1;
  // Like containers/image this lets "example.com" match "example.com:5000"; don't rely on it.
  return ":/@".includes(name[prefix.length]!) ? prefix.length : -1;
}

/** The [[registry]] entry with the longest prefix matching a registry host or host/path, if any. */
export function findRegistry(nameOrHost: string, conf: RegistriesConf): RegistryConf | undefined {
  let best: RegistryConf | undefined;
  for (const r of conf.registries) {
    if (matchPrefix(nameOrHost, r.prefix) !== -1 && r.prefix.length > (best?.prefix.length ?? 0)) best = r;
  }
  return best;
}

export interface PullEndpoint {
  /** the reference rewritten for this endpoint (registry = host to contact) */
  reference: Reference;
  insecure: boolean;
  mirror: boolean;
}

export interface RegistryEndpoints {
  /** the matching [[registry]] entry, undefined when none matched */
  entry?: RegistryConf;
  /** the primary endpoint's reference, rewritten by the longest matching prefix */
  reference: Reference;
  /** host[:port] to contact for the primary endpoint (reference.registry) */
  location: string;
  /** repository path at the primary endpoint (reference.repository) */
  repository: string;
  /** registries.conf says: TLS verification off, plain HTTP allowed (primary endpoint) */
  insecure: boolean;
  blocked: false;
  /** mirrors in order (filtered by pull-from-mirror / mirror-by-digest-only), then the primary */
  endpoints: PullEndpoint[];
}

function rewrite(ref: Reference, entry: RegistryConf, location: string): Reference {
  if (location === "") return ref; // wildcard prefix without location: the reference as it is
  const name = refName(ref);
  const n = matchPrefix(name, entry.prefix);
  const text = location + name.slice(n) + (ref.tag !== undefined ? `:${ref.tag}` : "") + (ref.digest !== undefined ? `@${ref.digest}` : "");
  let out: Reference;
  try {
    out = parseReference(text);
  } catch (e) {
    throw new TspodError(`rewriting ${refName(ref)} with registries.conf prefix "${entry.prefix}" to "${location}": ${(e as Error).message}`);
  }
  if (!out.fullyQualified) {
    throw new TspodError(`registries.conf location "${location}" for prefix "${entry.prefix}" does not name a registry host`);
  }
  return out;
}

/**
 * Where to pull `ref` from: the matching [[registry]] (longest prefix), its mirrors in order and
 * then the primary location, each with the reference rewritten (prefix replaced by location).
 * Throws TspodError when the registry is blocked. Pushes use the reference as written.
 */
export function registryFor(ref: Reference, conf: RegistriesConf): RegistryEndpoints {
  const entry = findRegistry(refName(ref), conf);
  if (!entry) {
    return {
      reference: ref,
      location: ref.registry,
      repository: ref.repository,
      insecure: false,
      blocked: false,
      endpoints: [{ reference: ref, insecure: false, mirror: false }],
    };
  }
  if (entry.blocked) throw new TspodError(`registry ${ref.registry} is blocked in registries.conf`);
  const digested = ref.digest !== undefined;
  const endpoints: PullEndpoint[] = [];
  for (const m of entry.mirrors) {
    if (entry.mirrorByDigestOnly && !digested) continue;
    if (m.pullFromMirror === "digest-only" && !digested) continue;
    if (m.pullFromMirror === "tag-only" && digested) continue;
    endpoints.push({ reference: rewrite(ref, entry, m.location), insecure: m.insecure, mirror: true });
  }
  const primary = rewrite(ref, entry, entry.location);
  endpoints.push({ reference: primary, insecure: entry.insecure, mirror: false });
  return {
    entry,
    reference: primary,
    location: primary.registry,
    repository: primary.repository,
    insecure: entry.insecure,
    blocked: false,
    endpoints,
  };
}

/**
 * The `insecure` setting registries.conf gives a registry host (TLS verification off, plain HTTP
 * allowed). Nothing is insecure by default, localhost included: plain HTTP needs this or
 * --tls-verify=false, as in Podman.
 */
export function isInsecure(host: string, conf: RegistriesConf): boolean {
  return findRegistry(host, conf)?.insecure ?? false;
}

/** Is the registry host blocked? */
export function isBlocked(host: string, conf: RegistriesConf): boolean {
  return findRegistry(host, conf)?.blocked ?? false;
}

/**
 * The registry login and logout use when none is given: the first of the
 * unqualified-search registries, as Podman does; none there is an error.
 */
export function defaultLoginRegistry(conf: RegistriesConf = loadRegistriesConf()): string {
  const first = conf.unqualifiedSearchRegistries[0];
  if (!first) throw new UsageError("please provide a registry (registries.conf lists no unqualified-search registries to default to)");
  return first;
}
