// Test doubles around the real registries of the test environment:
//  - a Bearer token server (the realm of the token registry on :5003) that signs
//    RS256 JWTs the way distribution's registry/auth/token expects them;
//  - a TCP proxy that understands just enough HTTP/1.1 to misbehave on purpose
//    (answer a request itself, cut a response body part-way) and to tell TLS
//    connections from plain-HTTP ones;
//  - a big single-layer image, pushed once with skopeo.
import { createSign, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { TarWriter } from "./tarwriter.ts";
import { ENV, REGISTRY, skopeo } from "./tspod.ts";

// ------------------------------------------------------------------ token server

export interface TokenRequest {
  scope: string;
  service: string | null;
  /** user name from Basic auth, "" when anonymous, undefined when the credentials were wrong */
  user: string | undefined;
  status: number;
}

export interface TokenServer {
  port: number;
  requests: TokenRequest[];
  /** token requests per scope ("" for a request without scope) */
  count(scope: string): number;
  reset(): void;
  stop(): void;
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString("base64url");

export interface TokenServerOptions {
  port: number;
  /** PEM private key and certificate (the registry's rootcertbundle) */
  key: string;
  cert: string;
  issuer: string;
  service: string;
  users: Record<string, string>;
  /** repositories anyone may pull without credentials */
  anonymousPull: string[];
}

/**
 * Token server for distribution's `auth: token:`. The JWT header carries the
 * signing certificate in `x5c`; the registry checks it chains to its
 * rootcertbundle (here the same self-signed cert), then checks iss, aud,
 * exp/nbf and the RS256 signature; `access` lists what the token grants.
 */
export function startTokenServer(o: TokenServerOptions): TokenServer {
  const der = o.cert.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, "");
  const requests: TokenRequest[] = [];
  const sign = (claims: object) => {
    const head = b64url(JSON.stringify({ typ: "JWT", alg: "RS256", x5c: [der] }));
    const body = b64url(JSON.stringify(claims));
    const sig = createSign("RSA-SHA256").update(`${head}.${body}`).sign(o.key);
    return `${head}.${body}.${b64url(sig)}`;
  };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: o.port,
    fetch(req) {
      const u = new URL(req.url);
      if (u.pathname !== "/token") return new Response("not found", { status: 404 });
      const scopes = u.searchParams.getAll("scope").flatMap((s) => s.split(" ")).filter(Boolean);
      const service = u.searchParams.get("service");
      const rec: TokenRequest = { scope: scopes.join(" "), service, user: "", status: 200 };
      requests.push(rec);
      const auth = req.headers.get("authorization");
      if (auth) {
        const m = /^Basic\s+(\S+)$/i.exec(auth);
        const [user, ...rest] = m ? Buffer.from(m[1], "base64").toString().split(":") : [];
        if (!user || o.users[user] === undefined || o.users[user] !== rest.join(":")) {
          rec.user = undefined;
          rec.status = 401;
          return Response.json({ errors: [{ code: "UNAUTHORIZED", message: "invalid username or password" }] }, { status: 401 });
        }
        rec.user = user;
      }
      if (service !== o.service) {
        rec.status = 400;
        return Response.json({ errors: [{ code: "DENIED", message: `unknown service ${service}` }] }, { status: 400 });
      }
      const access = scopes.flatMap((s) => {
        const first = s.indexOf(":");
        const last = s.lastIndexOf(":");
        if (first < 0 || last <= first) return [];
        const type = s.slice(0, first);
        const name = s.slice(first + 1, last);
        const wanted = s.slice(last + 1).split(",");
        // a user may pull and push anywhere; anonymous clients only pull the public repositories
        const may = type !== "repository" ? [] : rec.user ? ["pull", "push"] : o.anonymousPull.includes(name) ? ["pull"] : [];
        const actions = wanted.filter((a) => may.includes(a));
        return actions.length ? [{ type, name, actions }] : [];
      });
      const now = Math.floor(Date.now() / 1000);
      const token = sign({
        iss: o.issuer,
        sub: rec.user ?? "",
        aud: o.service,
        exp: now + 300,
        nbf: now - 10,
        iat: now,
        jti: randomBytes(8).toString("hex"),
        access,
      });
      return Response.json({ token, access_token: token, expires_in: 300, issued_at: new Date(now * 1000).toISOString() });
    },
  });
  return {
    port: server.port!,
    requests,
    count: (scope) => requests.filter((r) => r.scope === scope).length,
    reset: () => void requests.splice(0),
    stop: () => void server.stop(true),
  };
}

/** The token server the test environment's token registry (TOKEN_REGISTRY) sends clients to. */
export function startEnvTokenServer(): TokenServer {
  return startTokenServer({
    port: Number(ENV.TOKEN_REALM_PORT),
    key: readFileSync(ENV.TOKEN_KEY, "utf8"),
    cert: readFileSync(ENV.TOKEN_CERT, "utf8"),
    issuer: ENV.TOKEN_ISSUER,
    service: ENV.TOKEN_SERVICE,
    users: { [ENV.AUTH_USER]: ENV.AUTH_PASS },
    anonymousPull: ["busybox"],
  });
}

// ------------------------------------------------------------------ misbehaving proxy

export interface ProxyRequest {
  conn: number;
  method: string;
  path: string;
  /** lower-case names */
  headers: Record<string, string>;
  /** what the proxy did: forwarded it, answered it itself (e.g. 503), or cut its response */
  action: "forward" | "answer" | "cut";
  /** status line of the response (answered, cut, or watched requests) */
  status?: number;
  /** body bytes passed on before a cut */
  bodyBytes?: number;
}

export type ProxyAction = { answer: number } | { cutAfter: number } | { watch: true } | { hold: Promise<unknown> } | void;

export interface ProxyConn {
  id: number;
  /** "tls" if the client's first byte was a TLS handshake record, "http" for a request line */
  kind: "tls" | "http" | "other";
}

export interface Proxy {
  port: number;
  requests: ProxyRequest[];
  conns: ProxyConn[];
  stop(): Promise<void>;
}

/**
 * A TCP proxy to 127.0.0.1:upstreamPort. Plain-HTTP requests are parsed (request
 * line and headers; a body of Content-Length bytes is passed on, or dropped with
 * a request answered here; no chunked bodies) and handed to `rule`,
 * which may answer one itself with a status, cut its response after N body bytes
 * (the client sees the connection close mid-body), watch it (record the status)
 * or hold it (forward it only once a promise settles).
 * Anything else (TLS) is passed through untouched.
 */
export function startProxy(upstreamPort: number, rule: (r: ProxyRequest, all: ProxyRequest[]) => ProxyAction = () => {}): Promise<Proxy> {
  const requests: ProxyRequest[] = [];
  const conns: ProxyConn[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const conn: ProxyConn = { id: conns.length + 1, kind: "other" };
    conns.push(conn);
    const up = net.connect(upstreamPort, "127.0.0.1");
    sockets.add(client).add(up);
    let inBuf = Buffer.alloc(0);
    let raw = false;
    // Upstream writes go in order through one chain: a held request holds what follows it too.
    let gate: Promise<unknown> = Promise.resolve();
    const toUp = (b: Buffer) => {
      gate = gate.then(
        () => void up.write(b),
        () => void up.write(b),
      );
    };
    // The body of the request being read (its Content-Length): passed on, or dropped when answered here.
    let bodyLeft = 0;
    let dropBody = false;
    // The response being watched or cut: its request, bytes of its head so far, body budget.
    let cur: { req: ProxyRequest; head: Buffer; headDone: boolean; left: number } | undefined;
    const closeBoth = () => {
      client.destroy();
      up.destroy();
    };
    client.on("error", closeBoth);
    up.on("error", closeBoth);
    client.on("close", () => {
      up.destroy();
      sockets.delete(client);
    });
    up.on("close", () => {
      client.end();
      sockets.delete(up);
    });
    client.on("data", (chunk: Buffer) => {
      if (raw) return void up.write(chunk);
      inBuf = Buffer.concat([inBuf, chunk]);
      if (conn.kind === "other") {
        if (inBuf[0] === 0x16) conn.kind = "tls";
        else if (/^[A-Z]+ /.test(inBuf.subarray(0, 8).toString("latin1"))) conn.kind = "http";
        if (conn.kind !== "http") {
          raw = true;
          up.write(inBuf);
          inBuf = Buffer.alloc(0);
          return;
        }
      }
      for (;;) {
        if (bodyLeft > 0) {
          const n = Math.min(bodyLeft, inBuf.length);
          if (n === 0) return;
          const part = Buffer.from(inBuf.subarray(0, n));
          inBuf = inBuf.subarray(n);
          bodyLeft -= n;
          if (!dropBody) toUp(part);
          continue;
        }
        const end = inBuf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = inBuf.subarray(0, end + 4);
        inBuf = inBuf.subarray(end + 4);
        const [line, ...hl] = head.toString("latin1").split("\r\n");
        const [method, path] = line.split(" ");
        const headers: Record<string, string> = {};
        for (const h of hl) {
          const i = h.indexOf(":");
          if (i > 0) headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
        }
        const req: ProxyRequest = { conn: conn.id, method, path, headers, action: "forward" };
        requests.push(req);
        bodyLeft = Number(headers["content-length"] ?? 0) || 0;
        dropBody = false;
        const act = rule(req, requests);
        if (act && "answer" in act) {
          dropBody = true;
          req.action = "answer";
          req.status = act.answer;
          client.write(`HTTP/1.1 ${act.answer} Injected By Test Proxy\r\nContent-Length: 0\r\n\r\n`);
          continue;
        }
        if (act && "hold" in act) {
          const held = act.hold;
          gate = gate.then(() => held).catch(() => {});
          toUp(head);
          continue;
        }
        if (act && "cutAfter" in act) {
          req.action = "cut";
          cur = { req, head: Buffer.alloc(0), headDone: false, left: act.cutAfter };
        } else if (act && "watch" in act) {
          cur = { req, head: Buffer.alloc(0), headDone: false, left: Infinity };
        }
        toUp(head);
      }
    });
    up.on("data", (chunk: Buffer) => {
      if (!cur) return void client.write(chunk);
      let body = chunk;
      if (!cur.headDone) {
        cur.head = Buffer.concat([cur.head, chunk]);
        const end = cur.head.indexOf("\r\n\r\n");
        if (end < 0) return;
        cur.headDone = true;
        cur.req.status = Number(cur.head.toString("latin1", 0, 16).split(" ")[1]);
        client.write(cur.head.subarray(0, end + 4));
        body = cur.head.subarray(end + 4);
        cur.req.bodyBytes = 0;
        if (cur.left === Infinity) {
          // only watched: pass the rest through
          cur = undefined;
          if (body.length) client.write(body);
          return;
        }
      }
      if (body.length < cur.left) {
        cur.left -= body.length;
        cur.req.bodyBytes! += body.length;
        client.write(body);
        return;
      }
      // Cut: send exactly the budget, then close the client side (FIN) and drop upstream.
      // The FIN waits 150 ms: Bun's fetch drops body bytes it holds but has not yet
      // handed to the reader when the connection ends short (measured: a FIN right
      // after 100,000 bytes, 0 of them read in half of 30 tries). A pull then
      // starts the blob again, correctly but with no Range to test; the pause lets
      // the client read what came, as when a network breaks mid-transfer.
      const part = body.subarray(0, cur.left);
      cur.req.bodyBytes! += part.length;
      cur = undefined;
      up.removeAllListeners("data");
      up.removeAllListeners("close");
      up.destroy();
      client.write(part);
      setTimeout(() => client.end(), 150);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        requests,
        conns,
        stop: () =>
          new Promise<void>((res) => {
            for (const s of sockets) s.destroy();
            server.close(() => res());
          }),
      });
    });
  });
}

// ------------------------------------------------------------------ a big image

/** Incompressible but reproducible bytes (xorshift32), so the image's digests never change. */
export function pseudoRandom(n: number, seed = 0x7e57c0de): Uint8Array {
  const words = new Uint32Array(Math.ceil(n / 4));
  let x = seed >>> 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, n);
}

export interface BigImage {
  /** repository on REGISTRY */
  repo: string;
  ref: string;
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
  layerSize: number;
}

const sha = (b: Uint8Array | string) => `sha256:${new Bun.CryptoHasher("sha256").update(b).digest("hex")}`;

/**
 * One gzip layer holding /data/random.bin (`bytes` of pseudo-random data),
 * pushed to REGISTRY/tspod-test/resume-big with skopeo (skipped when the
 * registry already serves that manifest).
 */
export function pushBigImage(bytes = 2 << 20): BigImage {
  const repo = "tspod-test/resume-big";
  const tar = new TarWriter()
    .dir("data/", { mode: 0o755, mtime: 1704067200 })
    .file("data/random.bin", pseudoRandom(bytes), { mode: 0o644, mtime: 1704067200 })
    .end();
  const layer = Bun.gzipSync(tar as Uint8Array<ArrayBuffer>, { level: 1 });
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  const config = JSON.stringify({
    created: "2024-01-01T00:00:00Z",
    architecture: arch,
    os: "linux",
    config: { Cmd: ["sh"] },
    rootfs: { type: "layers", diff_ids: [sha(tar)] },
    history: [{ created: "2024-01-01T00:00:00Z", created_by: "tspod test: pseudo-random data" }],
  });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: sha(config), size: config.length },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: sha(layer), size: layer.length }],
  });
  const img: BigImage = {
    repo,
    ref: `${REGISTRY}/${repo}:latest`,
    manifestDigest: sha(manifest),
    configDigest: sha(config),
    layerDigest: sha(layer),
    layerSize: layer.length,
  };
  let served = "";
  try {
    served = JSON.parse(skopeo(["inspect", "--tls-verify=false", `docker://${img.ref}`])).Digest;
  } catch {}
  if (served === img.manifestDigest) return img;
  const dir = mkdtempSync("/tmp/tspod-big-");
  try {
    mkdirSync(join(dir, "blobs/sha256"), { recursive: true });
    for (const b of [layer, config, manifest]) writeFileSync(join(dir, "blobs/sha256", sha(b).slice(7)), b);
    writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
    writeFileSync(
      join(dir, "index.json"),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", digest: img.manifestDigest, size: manifest.length, annotations: { "org.opencontainers.image.ref.name": "latest" } }],
      }),
    );
    skopeo(["--insecure-policy", "copy", "-q", "--dest-tls-verify=false", "--preserve-digests", `oci:${dir}:latest`, `docker://${img.ref}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return img;
}
