// HTTP for registries: Bun's own fetch, which runs requests on Bun's native
// HTTP thread, with the few things a registry client needs around it: TLS
// settings per registry (certs.d CAs, --tls-verify=false), a headers timeout
// and a body idle timeout, bodies that are never decoded (a digest covers the
// bytes as sent), redirects left to the caller (credentials must not follow a
// redirect to another host), and a response shape the registry client reads.
//
// It was undici (the package, not Bun's stand-in) until measured in the
// compiled binary on a cold pull of busybox: loading undici's modules took
// 12-14 ms of the main thread (1,100 page faults) before the first request,
// and its first request (connect, llhttp, write) took ~7 ms more than fetch's.
// A compiled probe doing what a pull's network part does (manifest, config,
// a 1 MB layer hashed as it streams): 88 ms with undici, 44 ms with fetch
// (hyperfine, 30 runs each). The issue's goal for that pull is ~75 ms in all.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { homedir } from "node:os";
import pjson from "../../package.json" with { type: "json" };
import { log } from "../context.ts";

/**
 * The certs.d directories for a registry host[:port], Podman's places first:
 * $XDG_CONFIG_HOME/containers/certs.d (and ~/.config/...), /etc/containers/certs.d,
 * /etc/docker/certs.d. TSPOD_CERTS_DIR, when set, is looked at before them.
 */
export function certsDirs(host: string): string[] {
  const home = process.env.HOME || homedir();
  const dirs = [
    process.env.TSPOD_CERTS_DIR ? join(process.env.TSPOD_CERTS_DIR, host) : "",
    process.env.XDG_CONFIG_HOME ? join(process.env.XDG_CONFIG_HOME, "containers/certs.d", host) : "",
    join(home, ".config/containers/certs.d", host),
    join("/etc/containers/certs.d", host),
    join("/etc/docker/certs.d", host),
  ].filter(Boolean);
  return [...new Set(dirs)];
}

/** CA certificates for a registry the way Podman finds them: certs.d/<host[:port]>/*.crt (or --cert-dir's). */
export function certsFor(host: string, certDir?: string): string[] {
  const out: string[] = [];
  for (const d of certDir ? [certDir] : certsDirs(host)) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const f of names.sort()) {
      if (!f.endsWith(".crt")) continue;
      try {
        out.push(...certificatesIn(readFileSync(join(d, f), "utf8"), join(d, f)));
      } catch {}
    }
  }
  return out;
}

/**
 * The certificates of a PEM file that parse. Like containers/image (Go's
 * AppendCertsFromPEM), anything else in it is passed over: one bad file beside
 * the right CA must not make the registry unreachable (fetch refuses a whole
 * CA list it cannot read, with a message about the URL).
 */
function certificatesIn(text: string, path: string): string[] {
  const { X509Certificate } = require("node:crypto") as typeof import("node:crypto");
  const good: string[] = [];
  for (const pem of text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
    try {
      new X509Certificate(pem);
      good.push(pem);
    } catch {}
  }
  if (!good.length) log("debug", `${path}: no certificate in it, passed over`);
  return good;
}

interface TlsOptions {
  rejectUnauthorized: boolean;
  ca?: string[];
}
const tlsCache = new Map<string, TlsOptions>();

/**
 * The TLS settings for a registry host[:port], read once per process. CAs from
 * certs.d are added to the system's (as Podman does), not put in their place.
 */
export function tlsFor(host: string, tlsVerify: boolean, certDir?: string): TlsOptions {
  const key = `${host}|${tlsVerify}|${certDir ?? ""}`;
  let t = tlsCache.get(key);
  if (!t) {
    const ca = tlsVerify ? certsFor(host, certDir) : [];
    // node:tls only when a CA is added (its root list costs start-up)
    const roots = () => (require("node:tls") as typeof import("node:tls")).rootCertificates;
    t = { rejectUnauthorized: tlsVerify, ...(ca.length ? { ca: [...roots(), ...ca] } : {}) };
    tlsCache.set(key, t);
  }
  return t;
}

/** certs.d is read afresh (tests change it within one process). */
export function forgetTls(): void {
  tlsCache.clear();
}

export interface HttpOptions {
  method?: string;
  headers?: Record<string, string>;
  /** a request body (blob uploads, manifests) */
  body?: Uint8Array | ReadableStream<Uint8Array>;
  tls: TlsOptions;
  /** ms until the response's status and headers must have come */
  headersTimeout?: number;
  /** ms the body may go without a byte */
  bodyTimeout?: number;
}

/** A response body: read whole, streamed, or thrown away. */
export interface HttpBody extends AsyncIterable<Uint8Array> {
  text(): Promise<string>;
  json(): Promise<any>;
  /** The whole body; past max bytes, BODY_TOO_LARGE (and the rest is not read). */
  bytes(max?: number): Promise<Uint8Array>;
  /** Read and drop a small body (the connection can then be used again); cancel a big one. */
  dump(): Promise<void>;
  destroy(): void;
}

export interface HttpResponse {
  statusCode: number;
  /** lower-case names */
  headers: Record<string, string>;
  body: HttpBody;
}

/** An error with a code, as the network's own errors have. */
function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

const USER_AGENT = `tspod/${pjson.version}`;

const PROXY_VARS = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"];

/**
 * Bun's fetch sends requests through HTTP(S)_PROXY as Podman does, except that
 * Go's net/http (Podman's) never proxies localhost or a loopback address and
 * Bun's does unless NO_PROXY names it: a registry on 127.0.0.1 would be asked
 * for through the proxy. With a proxy set, such a host is added to NO_PROXY
 * (and no_proxy) for this process, which fetch reads at each request.
 */
function directForLoopback(url: string): void {
  if (!PROXY_VARS.some((k) => process.env[k])) return;
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  if (host !== "localhost" && !/^127\.\d+\.\d+\.\d+$/.test(host) && host !== "::1") return;
  for (const k of ["NO_PROXY", "no_proxy"]) {
    const v = process.env[k];
    if (!v?.split(",").map((x) => x.trim()).includes(host)) process.env[k] = v ? `${v},${host}` : host;
  }
}

/**
 * One request. Rejects with the network's error (its code: ECONNREFUSED,
 * ECONNRESET, EPROTO, a certificate code...) or HEADERS_TIMEOUT; reading the
 * body rejects with ECONNRESET (the connection broke) or BODY_TIMEOUT.
 */
export async function httpRequest(url: string, opts: HttpOptions): Promise<HttpResponse> {
  directForLoopback(url);
  const ac = new AbortController();
  const headersMs = opts.headersTimeout ?? 60_000;
  const timer = setTimeout(() => ac.abort(codedError("HEADERS_TIMEOUT", `no answer within ${headersMs / 1000} s`)), headersMs);
  let res: Response;
  try {
    res = await fetch(url, {
      method: opts.method ?? "GET",
      // identity: a body is never encoded in transit, and never decoded here
      headers: { "user-agent": USER_AGENT, "accept-encoding": "identity", ...opts.headers },
      redirect: "manual",
      decompress: false,
      ...(opts.body ? { body: opts.body } : {}),
      tls: opts.tls,
      signal: ac.signal,
    } as RequestInit);
  } catch (e) {
    throw ac.signal.aborted ? ac.signal.reason : e;
  } finally {
    clearTimeout(timer);
  }
  const headers: Record<string, string> = {};
  res.headers.forEach((v, k) => (headers[k] = v));
  return { statusCode: res.status, headers, body: new Body(res, ac, opts.bodyTimeout ?? 120_000) };
}

class Body implements HttpBody {
  private used = false;
  constructor(
    private res: Response,
    private ac: AbortController,
    private idleMs: number,
  ) {}

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    const stream = this.take();
    if (!stream) return;
    const reader = stream.getReader();
    let done = false;
    try {
      for (;;) {
        const timer = setTimeout(() => this.ac.abort(codedError("BODY_TIMEOUT", `nothing received for ${this.idleMs / 1000} s`)), this.idleMs);
        let r: Awaited<ReturnType<typeof reader.read>>;
        try {
          r = await reader.read();
        } catch (e) {
          done = true;
          throw this.ac.signal.aborted ? this.ac.signal.reason : e;
        } finally {
          clearTimeout(timer);
        }
        if (r.done) {
          done = true;
          return;
        }
        yield r.value;
      }
    } finally {
      // stopped early (an error, or a consumer that had enough): the rest is not wanted
      if (!done) reader.cancel().catch(() => {});
      reader.releaseLock();
    }
  }

  /** The body's stream, once: a second reader would see a half-read body. */
  private take(): ReadableStream<Uint8Array> | null {
    if (this.used) throw new Error("response body read twice");
    this.used = true;
    return this.res.body;
  }

  async bytes(max = Infinity): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const c of this) {
      n += c.length;
      // stopped as it comes (the rest is cancelled): a body need not say its length
      if (n > max) throw codedError("BODY_TOO_LARGE", `more than ${max} bytes`);
      chunks.push(c);
    }
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, n);
  }

  async text(): Promise<string> {
    return new TextDecoder().decode(await this.bytes());
  }

  async json(): Promise<any> {
    return JSON.parse(await this.text());
  }

  async dump(): Promise<void> {
    if (this.used) return;
    const len = Number(this.res.headers.get("content-length") ?? NaN);
    if (len <= 128 << 10) await this.bytes().catch(() => {});
    else this.destroy();
  }

  destroy(): void {
    if (!this.used) {
      this.used = true;
      this.res.body?.cancel().catch(() => {});
    }
  }
}
