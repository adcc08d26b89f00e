// Image references, parsed the way Podman (containers/image's docker/reference, a copy of
// distribution/reference) parses them:
//
//   reference  := name [ ":" tag ] [ "@" digest ]
//   name       := [domain "/"] path
//   domain     := host [":" port]            host: DNS name, IPv4, or [IPv6]
//   path       := component ("/" component)*  component: [a-z0-9]+ ((?:[._]|__|-+)[a-z0-9]+)*
//   tag        := [\w][\w.-]{0,127}
//   digest     := algorithm ":" hex           sha256 (64), sha384 (96), sha512 (128), lowercase
//
// The first path component is a domain only when the name has a "/" and that component holds a
// "." or ":" or is "localhost"; otherwise the name lives on docker.io, where a one-component path
// gets "library/". "index.docker.io" is docker.io.
import { UsageError } from "../errors.ts";
import { digestError } from "./manifest.ts";

export const DEFAULT_REGISTRY = "docker.io";
export const LEGACY_DEFAULT_REGISTRY = "index.docker.io";
export const OFFICIAL_REPO_PREFIX = "library/";
export const DEFAULT_TAG = "latest";
export const NAME_TOTAL_LENGTH_MAX = 255;

export interface Reference {
  /** domain incl. port: docker.io, localhost:5000, 127.0.0.1:5000, [::1]:5000 */
  registry: string;
  /** path on the registry: library/busybox */
  repository: string;
  tag?: string;
  /** algorithm:hex */
  digest?: string;
  /** the domain was written explicitly (a short name like "busybox" is not fully qualified) */
  fullyQualified: boolean;
}

// Regular expressions, the same grammar as distribution/reference's regexp.go.
const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]+)";
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const DOMAIN_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = "\\[(?:[a-fA-F0-9:]+)\\]";
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6})(?::[0-9]+)?`;
const TAG = "[\\w][\\w.-]{0,127}";
const DIGEST = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";

const anchoredDomain = new RegExp(`^${DOMAIN_AND_PORT}$`);
const anchoredRemainder = new RegExp(`^(${REMOTE_NAME})(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const anchoredRemoteName = new RegExp(`^${REMOTE_NAME}$`);
const anchoredTag = new RegExp(`^${TAG}$`);
const anchoredIdentifier = /^[a-f0-9]{64}$/;

/** Longest input worth running the regular expressions on (name 255 + tag 128 + sha512 digest). */
const MAX_INPUT = 1024;

function invalid(input: string, why: string): UsageError {
  return new UsageError(`invalid reference format: "${input}": ${why}`);
}

/** True when s is a domain as reference parsing decides it: has "." or ":", or is "localhost". */
export function looksLikeDomain(s: string): boolean {
  return s.includes(".") || s.includes(":") || s === "localhost";
}

/** Valid registry host[:port] (DNS name, IPv4 or bracketed IPv6, optional port)? */
export function isValidDomain(s: string): boolean {
  return anchoredDomain.test(s);
}

export function isValidTag(s: string): boolean {
  return anchoredTag.test(s);
}

/** Valid repository path (lowercase components separated by "/")? */
export function isValidRepository(s: string): boolean {
  return s.length <= NAME_TOTAL_LENGTH_MAX && anchoredRemoteName.test(s);
}

/**
 * A 64-hex string (optionally "sha256:"-prefixed) names an image ID, not a repository:
 * callers look it up in the store instead of pulling it.
 */
export function isImageIdLike(s: string): boolean {
  return anchoredIdentifier.test(s.startsWith("sha256:") ? s.slice(7) : s);
}

/** Split off the domain the way Docker does; tells whether one was written. */
function splitDomain(s: string): { domain: string; remainder: string; explicit: boolean } {
  const slash = s.indexOf("/");
  if (slash === -1 || !looksLikeDomain(s.slice(0, slash))) {
    return { domain: DEFAULT_REGISTRY, remainder: s, explicit: false };
  }
  return { domain: s.slice(0, slash), remainder: s.slice(slash + 1), explicit: true };
}

/**
 * Parse an image reference as `podman pull` does (ParseNormalizedNamed). Throws UsageError
 * `invalid reference format: "<input>": <reason>` for malformed input.
 */
export function parseReference(s: string): Reference {
  if (s === "") throw invalid(s, "repository name must have at least one component");
  if (s.length > MAX_INPUT) {
    throw invalid(s.slice(0, 64) + "...", `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (anchoredIdentifier.test(s)) {
    throw invalid(s, "cannot specify 64-byte hexadecimal strings as a repository name (that is an image ID)");
  }
  let { domain, remainder, explicit } = splitDomain(s);
  if (domain === LEGACY_DEFAULT_REGISTRY) domain = DEFAULT_REGISTRY;

  // The repository part ends at the tag's ":" or the digest's "@".
  const end = remainder.search(/[:@]/);
  const remote = end === -1 ? remainder : remainder.slice(0, end);
  if (remote.toLowerCase() !== remote) throw invalid(s, "repository name must be lowercase");
  if (explicit && !anchoredDomain.test(domain)) {
    throw invalid(s, `"${domain}" is not a valid registry host[:port]`);
  }

  const m = anchoredRemainder.exec(remainder);
  if (!m) {
    if (remainder === "" || remainder.startsWith(":") || remainder.startsWith("@")) {
      throw invalid(s, "repository name must have at least one component");
    }
    if (remainder.includes("@")) {
      const dg = remainder.slice(remainder.indexOf("@") + 1);
      const why = digestError(dg);
      if (why) throw invalid(s, `invalid digest "${dg}": ${why}`);
    }
    const tagAt = remainder.indexOf(":");
    if (tagAt !== -1) {
      const tagEnd = remainder.indexOf("@", tagAt);
      const tag = remainder.slice(tagAt + 1, tagEnd === -1 ? undefined : tagEnd);
      if (anchoredRemoteName.test(remote) && !anchoredTag.test(tag)) {
        throw invalid(s, `invalid tag "${tag}": tags are [A-Za-z0-9_] then up to 127 of [A-Za-z0-9_.-]`);
      }
    }
    throw invalid(s, "repository path components must be lowercase letters and digits separated by \".\", \"_\", \"__\" or \"-\"");
  }
  let repository = m[1]!;
  const tag = m[2];
  const digest = m[3];
  if (domain === DEFAULT_REGISTRY && !repository.includes("/")) repository = OFFICIAL_REPO_PREFIX + repository;
  if (domain.length + 1 + repository.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(s, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (digest !== undefined) {
    const why = digestError(digest);
    if (why) throw invalid(s, `invalid digest "${digest}": ${why}`);
  }
  const ref: Reference = { registry: domain, repository, fullyQualified: explicit };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** parseReference that returns undefined instead of throwing. */
export function tryParseReference(s: string): Reference | undefined {
  try {
    return parseReference(s);
  } catch {
    return undefined;
  }
}

/** registry/repository, e.g. docker.io/library/busybox */
export function refName(r: Reference): string {
  return `${r.registry}/${r.repository}`;
}

function suffix(r: Reference): string {
  return (r.tag !== undefined ? `:${r.tag}` : "") + (r.digest !== undefined ? `@${r.digest}` : "");
}

/** Canonical form: docker.io/library/busybox:latest, name@sha256:..., name:tag@sha256:... */
export function refString(r: Reference): string {
  return refName(r) + suffix(r);
}

/** The name as Docker shows it: busybox, user/app, quay.io/x/y. */
export function familiarName(r: Reference): string {
  if (r.registry !== DEFAULT_REGISTRY) return refName(r);
  if (r.repository.startsWith(OFFICIAL_REPO_PREFIX)) {
    const rest = r.repository.slice(OFFICIAL_REPO_PREFIX.length);
    if (!rest.includes("/")) return rest;
  }
  return r.repository;
}

/** busybox:latest, user/app@sha256:..., quay.io/x/y:1 */
export function familiarString(r: Reference): string {
  return familiarName(r) + suffix(r);
}

/** Add tag "latest" when the reference has neither a tag nor a digest. */
export function withDefaultTag(r: Reference): Reference {
  if (r.tag !== undefined || r.digest !== undefined) return r;
  return { ...r, tag: DEFAULT_TAG };
}

export function withTag(r: Reference, tag: string): Reference {
  if (!anchoredTag.test(tag)) throw new UsageError(`invalid tag "${tag}": tags are [A-Za-z0-9_] then up to 127 of [A-Za-z0-9_.-]`);
  return { ...r, tag };
}

export function withDigest(r: Reference, digest: string): Reference {
  const why = digestError(digest);
  if (why) throw new UsageError(`invalid digest "${digest}": ${why}`);
  return { ...r, digest };
}

/** The same repository without tag or digest. */
export function trimReference(r: Reference): Reference {
  return { registry: r.registry, repository: r.repository, fullyQualified: r.fullyQualified };
}

/** For pulls by tag-and-digest Docker pulls by digest only (ParseDockerRef); this drops the tag then. */
export function pullReference(r: Reference): Reference {
  if (r.digest !== undefined && r.tag !== undefined) {
    const { tag: _tag, ...rest } = r;
    return rest;
  }
  return withDefaultTag(r);
}
