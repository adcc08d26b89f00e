// Registry client: distribution spec v2 on Bun's fetch (see http.ts).
// Ping, anonymous/Basic/Bearer auth with tokens cached per scope, manifests,
// blobs with redirects, retries with backoff, resumable blob streams.
import { httpRequest, tlsFor, type HttpBody, type HttpResponse } from "./http.ts";
import { TspodError } from "../errors.ts";
import { ctx, log } from "../context.ts";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../storage/atomic.ts";

export interface Credentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /** false: accept any certificate and fall back to plain HTTP (--tls-verify=false or insecure in registries.conf) */
  tlsVerify?: boolean;
  creds?: Credentials;
  /** --cert-dir: CA certificates (*.crt) for this registry, instead of the certs.d directories */
  certDir?: string;
}

export interface FetchedManifest {
  bytes: Uint8Array;
  mediaType: string;
  /** Docker-Content-Digest when the registry sent one */
  digest?: string;
}

const MANIFEST_ACCEPT = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.v1+prettyjws",
  "application/vnd.docker.distribution.manifest.v1+json",
].join(", ");

/** Answers and network errors a request is tried again for (push's uploads too). */
export const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);
export const RETRY_CODES = new Set(["ECONNRESET", "EPIPE", "ETIMEDOUT", "HEADERS_TIMEOUT", "BODY_TIMEOUT"]);
const MAX_ATTEMPTS = 4;

/** Manifests are read whole: at most this much (containers/image's limit, 4 MiB). */
const MAX_MANIFEST_BYTES = 4 << 20;

/**
 * A whole response body, refused once it passes max bytes (by its
 * Content-Length, or as it comes: a registry need not send one), so that a
 * hostile or broken registry cannot make a pull hold unbounded memory.
 */
async function readBounded(res: HttpResponse, max: number, what: string): Promise<Uint8Array> {
  const tooLarge = () => new RegistryError(`${what} is too large (more than ${max} bytes)`);
  const len = Number(headerOf(res.headers, "content-length") ?? 0);
  if (len > max) {
    res.body.destroy();
    throw tooLarge();
  }
  try {
    return await res.body.bytes(max);
  } catch (e: any) {
    throw e?.code === "BODY_TOO_LARGE" ? tooLarge() : e;
  }
}

export class RegistryError extends TspodError {
  constructor(message: string, readonly status?: number, readonly code?: string) {
    super(message, 125);
  }
}

/** The API endpoint for a registry name (docker.io is served from registry-1.docker.io). */
export function apiHost(registry: string): string {
  return registry === "docker.io" ? "registry-1.docker.io" : registry;
}

interface Challenge {
  scheme: "bearer" | "basic";
  params: Record<string, string>;
}

/**
 * The first challenge of a WWW-Authenticate header. A registry that sends
 * several headers (Bearer and Basic) reaches us as one line joined by ", "
 * (fetch's Headers): the next challenge starts at a ", SCHEME " outside quotes,
 * and its parameters (another realm) are not this one's.
 */
export function parseChallenge(h: string | undefined): Challenge | undefined {
  if (!h) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/.exec(h);
  if (!m) return undefined;
  const scheme = m[1].toLowerCase();
  if (scheme !== "bearer" && scheme !== "basic") return undefined;
  const params: Record<string, string> = {};
  // key=value or key="quoted", each followed by a comma or the end; anything else ends this challenge
  const re = /\s*(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*(?:,|$)/y;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]))) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
    if (re.lastIndex >= m[2].length) break;
  }
  return { scheme, params };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function headerOf(h: Record<string, string>, name: string): string | undefined {
  return h[name];
}

/** The registry's JSON error ({"errors":[{"code","message"}]}) as one line. */
async function registryErrorText(body: HttpBody): Promise<{ code?: string; text: string }> {
  try {
    const t = await body.text();
    const j = JSON.parse(t);
    const e = j?.errors?.[0];
    if (e) return { code: e.code, text: `${String(e.code).toLowerCase().replace(/_/g, " ")}: ${e.message}` };
    return { text: t.slice(0, 200) };
  } catch {
    return { text: "" };
  }
}

/** The server's certificate did not verify (untrusted CA, wrong name, expired...). */
function isCertError(e: any): boolean {
  const code = String(e?.code ?? e?.cause?.code ?? "");
  return /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS_CERT_ALTNAME/.test(code);
}

function networkMessage(e: any): string {
  const code = e?.code ?? e?.cause?.code;
  if (code === "ECONNREFUSED") return "connection refused";
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") return "host not found";
  if (code === "ETIMEDOUT") return "connection timed out";
  if (code === "ECONNRESET") return "connection lost (closed by the other side)";
  if (code === "HEADERS_TIMEOUT") return "it accepted the connection but sent no answer in time";
  if (code === "BODY_TIMEOUT") return "it stopped sending in the middle of an answer";
  if (isCertError(e)) return `TLS certificate not trusted: ${e?.message ?? code}`;
  return e?.message ?? String(e);
}

function isTlsMismatch(e: any): boolean {
  if (isCertError(e)) return false;
  const s = `${e?.code ?? ""} ${e?.message ?? ""} ${e?.cause?.code ?? ""}`;
  return /SSL|TLS|wrong version|ECONNRESET|EPROTO|packet length/i.test(s);
}

/** Wait before retry `attempt` (1, 2, ...): 100, 200, 400 ms..., or what Retry-After asks (at most 10 s). */
function backoff(attempt: number, retryAfter?: string): number {
  const base = 100 * 2 ** (attempt - 1);
  const ra = Number(retryAfter);
  return Number.isFinite(ra) && ra > 0 ? Math.max(base, Math.min(ra, 10) * 1000) : base;
}

export class Registry {
  readonly host: string;
  private base?: string;
  private fromCache = false;
  private readonly tlsVerify: boolean;
  private readonly creds?: Credentials;
  private readonly certDir?: string;
  private challenge?: Challenge;
  /** Bearer tokens by scope; a promise, so requests in parallel share one token request. */
  private tokens = new Map<string, Promise<string>>();

  constructor(readonly registry: string, opts: RegistryOptions = {}) {
    this.host = apiHost(registry);
    this.tlsVerify = opts.tlsVerify ?? true;
    this.creds = opts.creds;
    this.certDir = opts.certDir;
  }

  /**
   * How a registry was reached (scheme, auth challenge) is remembered in the
   * runtime dir, so later pulls skip the /v2/ ping and the https attempt on a
   * plain-HTTP registry. A failed request on a remembered base pings afresh.
   */
  private cacheKey(): string {
    return `${this.host}|${this.tlsVerify}`;
  }
  private static cachePath(): string {
    return join(ctx().runroot, "registries.json");
  }
  private static readCache(): Record<string, { base: string; challenge?: Challenge }> {
    try {
      return JSON.parse(readFileSync(Registry.cachePath(), "utf8"));
    } catch {
      return {};
    }
  }
  private remember(): void {
    try {
      const c = Registry.readCache();
      c[this.cacheKey()] = { base: this.base!, challenge: this.challenge };
      writeFileAtomic(Registry.cachePath(), JSON.stringify(c), 0o600, false);
    } catch {}
  }
  private forget(): void {
    this.base = undefined;
    this.challenge = undefined;
    this.fromCache = false;
    try {
      const c = Registry.readCache();
      delete c[this.cacheKey()];
      writeFileAtomic(Registry.cachePath(), JSON.stringify(c), 0o600, false);
    } catch {}
  }

  async ping(): Promise<void> {
    if (this.base) return;
    const cached = Registry.readCache()[this.cacheKey()];
    if (cached?.base) {
      this.base = cached.base;
      this.challenge = cached.challenge;
      this.fromCache = true;
      return;
    }
    await this.probe();
    this.remember();
  }

  /** GET /v2/: picks https or (insecure only) http, and learns how to authenticate. */
  private async probe(): Promise<void> {
    // a port the grammar allows but no connection can have (fetch's own words are "URL is invalid")
    const port = /:(\d+)$/.exec(this.host)?.[1];
    if (port && (Number(port) < 1 || Number(port) > 65535)) throw new RegistryError(`registry ${this.registry}: invalid port ${port}`);
    const schemes = this.tlsVerify ? ["https"] : ["https", "http"];
    let lastErr: unknown;
    for (const scheme of schemes) {
      const url = `${scheme}://${this.host}/v2/`;
      try {
        const res = await httpRequest(url, { tls: tlsFor(this.host, this.tlsVerify, this.certDir), headersTimeout: 30_000 });
        await res.body.dump();
        if (res.statusCode === 401) this.challenge = parseChallenge(headerOf(res.headers, "www-authenticate"));
        else if (res.statusCode >= 400 && res.statusCode !== 404) throw new RegistryError(`pinging registry ${this.registry}: HTTP ${res.statusCode}`, res.statusCode);
        this.base = `${scheme}://${this.host}`;
        log("debug", `registry ${this.registry}: ${this.base}, auth ${this.challenge?.scheme ?? "none"}`);
        return;
      } catch (e: any) {
        if (e instanceof RegistryError) throw e;
        lastErr = e;
        if (scheme === "https" && schemes.length > 1 && isTlsMismatch(e)) continue;
        if (scheme === "https" && schemes.length > 1 && networkMessage(e) !== "connection refused") continue;
        break;
      }
    }
    if (isCertError(lastErr)) {
      // Never falls back to plain HTTP: the registry speaks TLS with a certificate we cannot check.
      // --cert-dir replaces certs.d: the advice is about it (a directory that is not there is
      // passed over, as containers/image does, and said here)
      const where = this.certDir
        ? `add its CA to --cert-dir ${this.certDir}${existsSync(this.certDir) ? "" : " (there is no such directory)"}`
        : `add its CA as certs.d/${this.host}/ca.crt (in ~/.config/containers or /etc/containers)`;
      throw new RegistryError(
        `registry ${this.registry}: TLS certificate not trusted (${(lastErr as any)?.message ?? (lastErr as any)?.code}); ${where}, or use --tls-verify=false`,
        undefined,
        (lastErr as any)?.code,
      );
    }
    const hint = this.tlsVerify && isTlsMismatch(lastErr) ? " (if it serves plain HTTP, use --tls-verify=false or mark it insecure in registries.conf)" : "";
    const silent = ((lastErr as any)?.code ?? (lastErr as any)?.cause?.code) === "HEADERS_TIMEOUT";
    throw new RegistryError(`registry ${this.registry} ${silent ? "does not answer" : "is not reachable"}: ${networkMessage(lastErr)}${hint}`);
  }

  private basicAuth(): string | undefined {
    return this.creds ? `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString("base64")}` : undefined;
  }

  /** The Authorization header for a scope ("" for none), fetching a Bearer token once per scope. */
  private async authorization(scope: string): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === "basic") return this.basicAuth();
    let p = this.tokens.get(scope);
    if (!p) {
      const mine = this.fetchToken(ch, scope);
      p = mine;
      this.tokens.set(scope, mine);
      mine.catch(() => {
        if (this.tokens.get(scope) === mine) this.tokens.delete(scope);
      });
    }
    return `Bearer ${await p}`;
  }

  private async fetchToken(ch: Challenge, scope: string): Promise<string> {
    const realm = ch.params.realm;
    if (!realm) throw new RegistryError(`registry ${this.registry}: bearer challenge without realm`);
    let u: URL;
    try {
      u = new URL(realm);
    } catch {
      throw new RegistryError(`registry ${this.registry}: bad token realm ${JSON.stringify(realm)}`);
    }
    if (ch.params.service) u.searchParams.set("service", ch.params.service);
    // several scopes (a push that mounts from another repository): one parameter each, as Docker's clients send them
    for (const one of scope.split(" ").filter(Boolean)) u.searchParams.append("scope", one);
    const headers: Record<string, string> = {};
    const basic = this.basicAuth();
    if (basic) headers.authorization = basic;
    log("debug", `registry ${this.registry}: token for ${scope || "(no scope)"} from ${u.origin}${u.pathname}`);
    let res: HttpResponse;
    try {
      res = await this.send(u.toString(), { method: "GET", headers });
    } catch (e: any) {
      throw new RegistryError(`registry ${this.registry}: token server ${u.host}: ${String(e?.message ?? e).replace(`${this.registry}: `, "")}`, undefined, e?.code);
    }
    if (res.statusCode !== 200) {
      const { text } = await registryErrorText(res.body);
      const why =
        res.statusCode === 401 || res.statusCode === 403
          ? this.creds
            ? "invalid username or password"
            : "authentication required"
          : `token server answered HTTP ${res.statusCode}`;
      const more = text && !text.toLowerCase().includes(why) ? ` (${text})` : "";
      throw new RegistryError(`registry ${this.registry}: ${why}${more}`, res.statusCode);
    }
    let j: any;
    try {
      j = await res.body.json();
    } catch {
      throw new RegistryError(`registry ${this.registry}: token server sent no JSON`);
    }
    const token = j?.token ?? j?.access_token;
    if (!token || typeof token !== "string") throw new RegistryError(`registry ${this.registry}: token response without a token`);
    return token;
  }

  /** One HTTP request with retries on 5xx/429 and connection resets. */
  private async send(url: string, opts: { method: string; headers?: Record<string, string>; body?: Uint8Array | ReadableStream<Uint8Array> }, retry = true): Promise<HttpResponse> {
    const host = new URL(url).host;
    // a streamed body is sent once: a retry would send what is left of it
    if (opts.body instanceof ReadableStream) retry = false;
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await httpRequest(url, {
          method: opts.method,
          headers: opts.headers,
          body: opts.body,
          tls: tlsFor(host, this.tlsVerify, host === this.host ? this.certDir : undefined),
          headersTimeout: 60_000,
          bodyTimeout: 120_000,
        });
        if (retry && RETRY_STATUS.has(res.statusCode) && attempt < MAX_ATTEMPTS) {
          await res.body.dump();
          log("info", `${opts.method} ${url}: HTTP ${res.statusCode}, retrying`);
          await sleep(backoff(attempt, headerOf(res.headers, "retry-after")));
          continue;
        }
        return res;
      } catch (e: any) {
        const code = e?.code ?? e?.cause?.code;
        if (retry && RETRY_CODES.has(code) && attempt < MAX_ATTEMPTS) {
          log("info", `${opts.method} ${url}: ${code}, retrying`);
          await sleep(backoff(attempt));
          continue;
        }
        throw new RegistryError(`${this.registry}: ${networkMessage(e)}`, undefined, code);
      }
    }
  }

  /**
   * Authenticated request to a path under /v2/ (or an upload's absolute URL,
   * which gets the credentials only when it is on the registry itself),
   * following redirects (auth only to the registry itself). A streamed body
   * is sent once: no retry, no redirect, no second try after a 401.
   */
  async request(path: string, opts: { method?: string; headers?: Record<string, string>; scope: string; body?: Uint8Array | ReadableStream<Uint8Array> }): Promise<HttpResponse> {
    await this.ping();
    const method = opts.method ?? "GET";
    const body = opts.body;
    const once = body instanceof ReadableStream;
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    const hadToken = this.tokens.has(opts.scope);
    const auth = await this.authorization(opts.scope);
    const at = (p: string) => (/^https?:\/\//.test(p) ? p : `${this.base}${p}`);
    let url = at(path);
    if (auth && new URL(url).origin === new URL(this.base!).origin) headers.authorization = auth;
    let res: HttpResponse;
    try {
      res = await this.send(url, { method, headers, body });
    } catch (e) {
      if (!this.fromCache || once) throw e;
      // the remembered way to this registry no longer works: ping afresh, once
      this.forget();
      await this.ping();
      url = at(path);
      res = await this.send(url, { method, headers, body });
    }
    if (once) return res;
    if (res.statusCode === 401) {
      // Retry once where that can help: nothing was sent (the challenge is new to
      // us), or a Bearer token from before this request (it may have expired).
      // A token fetched for this very request, or Basic credentials, would only be refused again.
      const ch = parseChallenge(headerOf(res.headers, "www-authenticate"));
      const retry = ch && (auth ? hadToken && ch.scheme === "bearer" : ch.scheme === "bearer" || this.creds);
      if (ch && retry) {
        await res.body.dump();
        this.challenge = ch;
        this.tokens.delete(opts.scope);
        const a2 = await this.authorization(opts.scope);
        if (a2) headers.authorization = a2;
        res = await this.send(url, { method, headers, body });
      }
    }
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && res.statusCode !== 304; hops++) {
      const loc = headerOf(res.headers, "location");
      await res.body.dump();
      if (!loc || hops >= 5) throw new RegistryError(`${this.registry}: too many redirects for ${path}`);
      const next = new URL(loc, url);
      const h = { ...headers };
      if (next.host !== new URL(url).host) delete h.authorization;
      url = next.toString();
      res = await this.send(url, { method, headers: h, body });
    }
    return res;
  }

  private async failure(res: HttpResponse, what: string): Promise<never> {
    const { code, text } = await registryErrorText(res.body);
    let msg: string;
    if (res.statusCode === 401) msg = `${what}: authentication required${this.creds ? " (credentials were rejected)" : ""}`;
    else if (res.statusCode === 403) msg = `${what}: access denied`;
    else if (res.statusCode === 404 && code === "NAME_UNKNOWN") msg = `${what}: repository not found`;
    else if (res.statusCode === 404) msg = `${what}: not found`;
    else msg = `${what}: HTTP ${res.statusCode}`;
    // the registry's own words, unless they only say it again ("unauthorized: authentication required")
    if (text && res.statusCode !== 404 && !(res.statusCode === 401 && /authentication required/i.test(text))) msg += ` (${text})`;
    throw new RegistryError(msg, res.statusCode, code);
  }

  /**
   * Check credentials: GET /v2/ must succeed with them (Basic), or with a token
   * issued for them without a scope (Bearer), as containers/image does.
   */
  async checkLogin(): Promise<void> {
    // a login asks the registry itself, not what an earlier ping remembered
    await this.probe();
    this.remember();
    if (!this.challenge) return;
    const res = await this.request("/v2/", { scope: "" }).catch((e) => {
      throw new RegistryError(`logging in to ${this.registry}: ${String(e.message).replace(`registry ${this.registry}: `, "")}`, e.status);
    });
    await res.body.dump();
    if (res.statusCode === 401) throw new RegistryError(`logging in to ${this.registry}: invalid username or password`, 401);
    if (res.statusCode >= 400) throw new RegistryError(`logging in to ${this.registry}: HTTP ${res.statusCode}`, res.statusCode);
  }

  async getManifest(repo: string, reference: string): Promise<FetchedManifest> {
    const res = await this.request(`/v2/${repo}/manifests/${reference}`, { headers: { accept: MANIFEST_ACCEPT }, scope: `repository:${repo}:pull` });
    if (res.statusCode !== 200) return this.failure(res, `${this.registry}/${repo}${reference.includes(":") ? "@" : ":"}${reference}`);
    const bytes = await readBounded(res, MAX_MANIFEST_BYTES, `manifest ${this.registry}/${repo}${reference.includes(":") ? "@" : ":"}${reference}`);
    const ct = (headerOf(res.headers, "content-type") ?? "").split(";")[0].trim();
    return { bytes, mediaType: ct, digest: headerOf(res.headers, "docker-content-digest") };
  }

  /** Small blobs (configs): the whole body, size-checked. */
  async getBlob(repo: string, digest: string, maxBytes = 64 << 20): Promise<Uint8Array> {
    const res = await this.request(`/v2/${repo}/blobs/${digest}`, { scope: `repository:${repo}:pull` });
    if (res.statusCode !== 200) return this.failure(res, `blob ${digest}`);
    return readBounded(res, maxBytes, `blob ${digest}`);
  }

  // ---------------------------------------------------------------- push

  /** Does the repository have this blob? (HEAD; scope: the push's) */
  async hasBlob(repo: string, digest: string, scope: string): Promise<boolean> {
    const res = await this.request(`/v2/${repo}/blobs/${digest}`, { method: "HEAD", scope });
    if (res.statusCode === 404) {
      await res.body.dump();
      return false;
    }
    // the first request of a push: refused credentials are about the repository, not this blob
    if (res.statusCode === 401 || res.statusCode === 403) return this.failure(res, `pushing to ${this.registry}/${repo}`);
    if (res.statusCode !== 200) return this.failure(res, `${this.registry}/${repo}: checking blob ${digest}`);
    await res.body.dump();
    return true;
  }

  /**
   * Start a blob upload: the URL to PUT the blob to. With mount, the registry
   * is asked first to take the blob from another of its repositories (no bytes
   * sent); undefined when it did. One that cannot (no such blob there, or no
   * right to read it) starts an upload instead, as the spec says.
   */
  async startUpload(repo: string, scope: string, mount?: { digest: string; from: string }): Promise<string | undefined> {
    const q = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : "";
    const res = await this.request(`/v2/${repo}/blobs/uploads/${q}`, { method: "POST", scope, headers: { "content-length": "0" } });
    if (mount && res.statusCode === 201) {
      await res.body.dump();
      return undefined;
    }
    if (res.statusCode !== 202) return this.failure(res, `${this.registry}/${repo}: starting an upload`);
    await res.body.dump();
    const loc = headerOf(res.headers, "location");
    if (!loc) throw new RegistryError(`${this.registry}/${repo}: the registry started an upload without saying where (no Location)`);
    return new URL(loc, `${this.base}/v2/${repo}/blobs/uploads/`).toString();
  }

  /** Send a whole blob to an upload's URL and close it with its digest (the registry checks it). */
  async finishUpload(location: string, digest: string, size: number, body: Uint8Array | ReadableStream<Uint8Array>, scope: string): Promise<void> {
    const u = new URL(location);
    u.searchParams.set("digest", digest);
    const res = await this.request(u.toString(), { method: "PUT", scope, body, headers: { "content-type": "application/octet-stream", "content-length": String(size) } });
    if (res.statusCode !== 201 && res.statusCode !== 204) return this.failure(res, `${this.registry}: uploading blob ${digest}`);
    await res.body.dump();
    const got = headerOf(res.headers, "docker-content-digest");
    if (got && got !== digest) throw new RegistryError(`${this.registry}: uploading blob ${digest}: the registry stored ${got}`);
  }

  /** PUT a manifest under a tag (or its digest): the digest the registry gives it, when it says. */
  async putManifest(repo: string, reference: string, bytes: Uint8Array, mediaType: string, scope: string): Promise<string | undefined> {
    const res = await this.request(`/v2/${repo}/manifests/${reference}`, { method: "PUT", scope, body: bytes, headers: { "content-type": mediaType } });
    if (res.statusCode < 200 || res.statusCode > 202) return this.failure(res, `${this.registry}/${repo}:${reference}: writing the manifest`);
    await res.body.dump();
    return headerOf(res.headers, "docker-content-digest");
  }

  /**
   * A blob as a stream of chunks. When the connection breaks part-way and the
   * registry serves ranges, the stream resumes where it stopped.
   */
  async *blobStream(repo: string, digest: string, size: number): AsyncGenerator<Uint8Array> {
    let got = 0;
    for (let attempt = 1; ; attempt++) {
      const headers: Record<string, string> = got > 0 ? { range: `bytes=${got}-` } : {};
      const res = await this.request(`/v2/${repo}/blobs/${digest}`, { headers, scope: `repository:${repo}:pull` });
      if (got > 0 && res.statusCode === 200) {
        // No range support: start over is impossible mid-pipeline (the consumer already has the bytes).
        await res.body.dump();
        throw new RegistryError(`blob ${digest}: connection lost at ${got}/${size} bytes and the registry cannot resume`);
      }
      if (res.statusCode !== 200 && res.statusCode !== 206) return this.failure(res, `blob ${digest}`);
      try {
        for await (const chunk of res.body) {
          got += chunk.length;
          yield chunk as Uint8Array;
        }
        return;
      } catch (e: any) {
        const code = e?.code ?? e?.cause?.code;
        if (!RETRY_CODES.has(code)) throw e instanceof RegistryError ? e : new RegistryError(`blob ${digest}: ${networkMessage(e)}`, undefined, code);
        if (attempt >= MAX_ATTEMPTS) {
          throw new RegistryError(`blob ${digest}: ${networkMessage(e)} at ${got} of ${size} bytes, ${attempt} times; giving up`, undefined, code);
        }
        log("info", `blob ${digest}: ${code} at ${got}/${size}, resuming`);
        await sleep(backoff(attempt));
      }
    }
  }
}
