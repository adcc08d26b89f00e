// The registry client against real registries of the test environment
// (test/env/setup.sh): TLS with a custom CA found through certs.d, Bearer token
// auth (the token server is started here), retries on 5xx and resumed blob
// downloads through a proxy that misbehaves on purpose; and the HTTP client's
// own behaviour (keep-alive, bodies never decoded, redirects left to the
// caller, timeouts, errors). Root and rootless.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import net from "node:net";
import { ENV, errorLines, expectOneError, fixtureDigests, MODES, REGISTRY, Sandbox, sandboxes } from "../helpers/tspod.ts";
import { pushBigImage, startEnvTokenServer, startProxy, type BigImage, type TokenServer } from "../helpers/registry-fakes.ts";

const TLS = ENV.TLS_REGISTRY;
const TOKEN = ENV.TOKEN_REGISTRY;
const NOTLS = "--tls-verify=false";
const digests = fixtureDigests();
const port = (hostPort: string) => Number(hostPort.split(":")[1]);

const box = sandboxes();

/** The Error lines of a failed command; exactly one is expected. */
/** Put the test CA where Podman looks for a host's CAs (owned by the sandbox user). */
function installCA(b: Sandbox, certsD: string, hostPort: string): string {
  const dir = join(certsD, hostPort);
  mkdirSync(dir, { recursive: true });
  const f = join(dir, "ca.crt");
  copyFileSync(ENV.CA_CERT, f);
  for (let d = dir; d.startsWith(b.home) && d !== b.home; d = dirname(d)) chownSync(d, b.uid, b.gid);
  if (f.startsWith(b.home)) chownSync(f, b.uid, b.gid);
  chmodSync(f, 0o644);
  return f;
}

/** Nothing of a failed pull is left: no image, no layer, no blob, nothing in tmp/. */
async function expectEmptyStore(b: Sandbox): Promise<void> {
  expect((await b.ok(["images", "-q", "-a"])).trim()).toBe("");
  for (const d of ["layers", "images", "tmp", "blobs/sha256"]) {
    const p = join(b.root, d);
    expect(existsSync(p) ? readdirSync(p) : []).toEqual([]);
  }
}

// ------------------------------------------------------------------ the HTTP client

/** A raw HTTP/1.1 server on 127.0.0.1: `answer` gets each socket's first request bytes. */
async function rawServer(answer: (s: net.Socket, req: string, conn: number) => void): Promise<{ port: number; conns: () => number; requests: string[]; stop: () => void }> {
  let conns = 0;
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    const id = ++conns;
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => {});
    let buf = "";
    s.on("data", (d) => {
      buf += d.toString("latin1");
      for (let end; (end = buf.indexOf("\r\n\r\n")) >= 0; ) {
        const req = buf.slice(0, end + 4);
        buf = buf.slice(end + 4);
        requests.push(req);
        answer(s, req, id);
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  return {
    port: (srv.address() as net.AddressInfo).port,
    conns: () => conns,
    requests,
    stop: () => {
      for (const s of sockets) s.destroy();
      srv.close();
    },
  };
}

describe("HTTP client", () => {
  const plain = { rejectUnauthorized: true };

  test("keep-alive: requests one after another use one connection; bodies come as sent (never decoded), redirects are not followed", async () => {
    const http = await import("../../src/image/http.ts");
    const gz = Bun.gzipSync(new TextEncoder().encode("hello"));
    const srv = await rawServer((s, req) => {
      if (req.startsWith("GET /moved ")) return void s.write("HTTP/1.1 307 Temporary Redirect\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n");
      s.write(`HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: ${gz.length}\r\n\r\n`);
      s.write(gz);
    });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await http.httpRequest(`http://127.0.0.1:${srv.port}/blob`, { tls: plain });
        expect(r.statusCode).toBe(200);
        expect(r.headers["content-encoding"]).toBe("gzip");
        expect(Buffer.from(await r.body.bytes()).equals(Buffer.from(gz))).toBe(true);
      }
      const m = await http.httpRequest(`http://127.0.0.1:${srv.port}/moved`, { tls: plain });
      expect(m.statusCode).toBe(307);
      expect(m.headers.location).toBe("/elsewhere");
      await m.body.dump();
      expect(srv.requests.length).toBe(4); // nothing fetched from /elsewhere
      expect(srv.requests.every((q) => /\r\naccept-encoding: identity\r\n/i.test(q))).toBe(true);
      expect(srv.requests[0]).toMatch(/\r\nuser-agent: tspod\//i);
      expect(srv.conns()).toBe(1);
    } finally {
      srv.stop();
    }
  });

  test("a server that takes the request and never answers: HEADERS_TIMEOUT; one that stops mid-body: BODY_TIMEOUT; one that closes mid-body: ECONNRESET", async () => {
    const http = await import("../../src/image/http.ts");
    const srv = await rawServer((s, req) => {
      if (req.startsWith("GET /silent ")) return; // holds it
      s.write("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nfirst bytes");
      if (req.startsWith("GET /cut ")) setTimeout(() => s.destroy(), 50);
    });
    try {
      let t = Date.now();
      const e1 = await http.httpRequest(`http://127.0.0.1:${srv.port}/silent`, { tls: plain, headersTimeout: 300 }).catch((e) => e);
      expect(e1?.code).toBe("HEADERS_TIMEOUT");
      expect(Date.now() - t).toBeGreaterThanOrEqual(250);
      expect(Date.now() - t).toBeLessThan(5000);
      const stall = await http.httpRequest(`http://127.0.0.1:${srv.port}/stall`, { tls: plain, bodyTimeout: 300 });
      const got: number[] = [];
      t = Date.now();
      const e2 = await (async () => {
        for await (const c of stall.body) got.push(c.length);
      })().catch((e) => e);
      expect(e2?.code).toBe("BODY_TIMEOUT");
      expect(got.reduce((a, b) => a + b, 0)).toBe("first bytes".length);
      expect(Date.now() - t).toBeLessThan(5000);
      const cut = await http.httpRequest(`http://127.0.0.1:${srv.port}/cut`, { tls: plain });
      const e3 = await cut.body.bytes().catch((e) => e);
      expect(e3?.code).toBe("ECONNRESET");
      const refused = await http.httpRequest("http://127.0.0.1:1/", { tls: plain }).catch((e) => e);
      expect(refused?.code).toBe("ECONNREFUSED");
    } finally {
      srv.stop();
    }
  });

  test("HTTP_PROXY is used as Podman uses it: for a registry by name, never for a loopback address", async () => {
    const http = await import("../../src/image/http.ts");
    // A forward proxy: absolute-form requests are sent on to the test registry.
    const seen: string[] = [];
    const proxy = net.createServer((c) => {
      c.on("error", () => {});
      c.once("data", (d) => {
        const text = d.toString("latin1");
        const [method, target] = text.split(" ");
        seen.push(`${method} ${target}`);
        const u = new URL(target!);
        const up = net.connect(port(REGISTRY), "127.0.0.1", () => {
          up.write(text.replace(`${method} ${target} `, `${method} ${u.pathname}${u.search} `).replace(/\r\nconnection:[^\r]*/i, "").replace("\r\n\r\n", "\r\nconnection: close\r\n\r\n"));
          up.pipe(c);
        });
        up.on("error", () => c.destroy());
      });
    });
    await new Promise<void>((r) => proxy.listen(0, "127.0.0.1", r));
    const saved = Object.fromEntries(["HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"].map((k) => [k, process.env[k]]));
    try {
      for (const k of Object.keys(saved)) delete process.env[k];
      process.env.HTTP_PROXY = `http://127.0.0.1:${(proxy.address() as net.AddressInfo).port}`;
      const byName = await http.httpRequest(`http://tspod-proxy-test.invalid:${port(REGISTRY)}/v2/`, { tls: plain });
      expect(byName.statusCode).toBe(200);
      await byName.body.dump();
      expect(seen).toEqual([`GET http://tspod-proxy-test.invalid:${port(REGISTRY)}/v2/`]);
      const direct = await http.httpRequest(`http://127.0.0.1:${port(REGISTRY)}/v2/`, { tls: plain });
      expect(direct.statusCode).toBe(200);
      await direct.body.dump();
      expect(seen.length).toBe(1);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      proxy.close();
    }
  });

  test("tlsFor: TLS verification and certs.d CAs reach the TLS layer", async () => {
    const http = await import("../../src/image/http.ts");
    const url = `https://${TLS}/v2/`;
    const saved = process.env.TSPOD_CERTS_DIR;
    const dir = `/tmp/tspod-certsd-${process.pid}`;
    try {
      http.forgetTls();
      process.env.TSPOD_CERTS_DIR = `${dir}/none`;
      const e = await http.httpRequest(url, { tls: http.tlsFor(TLS, true) }).catch((x: any) => x);
      expect(String(e?.code)).toMatch(/CERT|UNABLE_TO_VERIFY|SELF_SIGNED/);
      let r = await http.httpRequest(url, { tls: http.tlsFor(TLS, false) });
      expect(r.statusCode).toBe(200);
      await r.body.dump();
      mkdirSync(join(dir, TLS), { recursive: true });
      copyFileSync(ENV.CA_CERT, join(dir, TLS, "ca.crt"));
      process.env.TSPOD_CERTS_DIR = dir;
      http.forgetTls();
      expect(http.tlsFor(TLS, true).ca?.at(-1)).toBe(readFileSync(ENV.CA_CERT, "utf8").trim()); // the certificate, as a PEM block
      r = await http.httpRequest(url, { tls: http.tlsFor(TLS, true) });
      expect(r.statusCode).toBe(200);
      await r.body.dump();
    } finally {
      if (saved === undefined) delete process.env.TSPOD_CERTS_DIR;
      else process.env.TSPOD_CERTS_DIR = saved;
      http.forgetTls();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("registry client in-process", () => {
  test("requests in parallel for one scope share one token request", async () => {
    const ts = startEnvTokenServer();
    const { Registry } = await import("../../src/image/registry.ts");
    try {
      const reg = new Registry(TOKEN, { tlsVerify: false });
      await reg.ping();
      const got = await Promise.all([1, 2, 3, 4].map(() => reg.getManifest("busybox", "latest")));
      expect(got.every((m) => m.digest === digests.busybox)).toBe(true);
      expect(ts.count("repository:busybox:pull")).toBe(1);
    } finally {
      ts.stop();
    }
  });
});

// ------------------------------------------------------------------ TLS and certs.d

describe.each(MODES)("TLS registry with a custom CA (%s)", (mode) => {
  const b = box(mode);
  const userCertsD = join(b.home, ".config/containers/certs.d");

  test("without the CA: one line about the certificate, exit 125, and never plain HTTP", async () => {
    let r = await b.run(["pull", `${TLS}/busybox:latest`]);
    expectOneError(r, /certificate/i);
    expect(errorLines(r)[0]).toContain(TLS);
    // Through a proxy that sees the bytes: only TLS handshakes, no plain-HTTP request.
    const proxy = await startProxy(port(TLS));
    try {
      r = await b.run(["pull", `127.0.0.1:${proxy.port}/busybox:latest`]);
      expectOneError(r, /certificate/i);
      expect(proxy.conns.length).toBeGreaterThan(0);
      expect(proxy.conns.every((c) => c.kind === "tls")).toBe(true);
      expect(proxy.requests).toEqual([]);
    } finally {
      await proxy.stop();
    }
    await expectEmptyStore(b);
  });

  test("CA in $XDG_CONFIG_HOME/containers/certs.d/HOST:PORT/ca.crt: pulls with verification on", async () => {
    const ca = installCA(b, userCertsD, TLS);
    try {
      const id = (await b.ok(["pull", "-q", `${TLS}/busybox:latest`])).trim();
      expect(id).toMatch(/^[a-f0-9]{64}$/);
      const info = JSON.parse(await b.ok(["image", "inspect", `${TLS}/busybox:latest`]))[0];
      expect(info.Digest).toBe(digests.busybox);
      // The CA is what made it work: moved away, the same pull fails again.
      rmSync(ca);
      await b.ok(["rmi", `${TLS}/busybox:latest`]);
      expectOneError(await b.run(["pull", `${TLS}/busybox:latest`]), /certificate/i);
    } finally {
      rmSync(ca, { force: true });
    }
  });

  test("CA in /etc/containers/certs.d/HOST:PORT/ca.crt, through a proxy that sees TLS only", async () => {
    const proxy = await startProxy(port(TLS));
    const host = `127.0.0.1:${proxy.port}`;
    const ca = installCA(b, "/etc/containers/certs.d", host);
    try {
      await b.ok(["pull", "-q", `${host}/multilayer:latest`]);
      const info = JSON.parse(await b.ok(["image", "inspect", `${host}/multilayer:latest`]))[0];
      expect(info.Digest).toBe(digests.multilayer);
      expect(proxy.conns.length).toBeGreaterThan(0);
      expect(proxy.conns.every((c) => c.kind === "tls")).toBe(true);
    } finally {
      rmSync(dirname(ca), { recursive: true, force: true });
      await proxy.stop();
    }
  });

  test("--cert-dir DIR: its *.crt are the registry's CAs (no certs.d needed)", async () => {
    const dir = join(b.home, `certs-${mode}`);
    mkdirSync(dir, { recursive: true });
    copyFileSync(ENV.CA_CERT, join(dir, "ca.crt"));
    chownSync(dir, b.uid, b.gid);
    try {
      const id = (await b.ok(["pull", "-q", "--cert-dir", dir, `${TLS}/busybox:latest`])).trim();
      expect(JSON.parse(await b.ok(["image", "inspect", `${TLS}/busybox:latest`]))[0].Id).toBe(id);
      await b.ok(["rmi", `${TLS}/busybox:latest`]);
      // a directory without the CA: the certificate is not trusted
      expectOneError(await b.run(["pull", "--cert-dir", join(dir, "none"), `${TLS}/busybox:latest`]), /certificate/i);
      // login takes it too (this registry asks no password: the check is the TLS handshake)
      const authfile = join(b.dir, `certdir-auth-${mode}.json`);
      expect(await b.ok(["login", "--cert-dir", dir, "--authfile", authfile, "-u", "u", "-p", "p", TLS])).toBe("Login Succeeded!\n");
      expectOneError(await b.run(["login", "--cert-dir", join(dir, "none"), "--authfile", authfile, "-u", "u", "-p", "p", TLS]), /certificate/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("--tls-verify=false: pulls over TLS without the CA", async () => {
    const proxy = await startProxy(port(TLS));
    try {
      await b.ok(["pull", "-q", NOTLS, `127.0.0.1:${proxy.port}/busybox-docker:latest`]);
      const info = JSON.parse(await b.ok(["image", "inspect", `127.0.0.1:${proxy.port}/busybox-docker:latest`]))[0];
      expect(info.Digest).toBe(digests["busybox-docker"]);
      expect(proxy.conns.every((c) => c.kind === "tls")).toBe(true);
    } finally {
      await proxy.stop();
    }
  });
});

// ------------------------------------------------------------------ Bearer tokens

describe.each(MODES)("Bearer token registry (%s)", (mode) => {
  const b = box(mode);
  let ts: TokenServer;
  beforeAll(() => {
    ts = startEnvTokenServer();
  });
  afterAll(() => ts.stop());

  test("anonymous Bearer pull of a public repository; one token for its scope", async () => {
    ts.reset();
    await b.ok(["pull", "-q", NOTLS, `${TOKEN}/busybox:latest`]);
    const info = JSON.parse(await b.ok(["image", "inspect", `${TOKEN}/busybox:latest`]))[0];
    expect(info.Digest).toBe(digests.busybox);
    expect(ts.count("repository:busybox:pull")).toBe(1);
    expect(ts.requests.every((r) => r.user === "" && r.service === ENV.TOKEN_SERVICE)).toBe(true);
  });

  test("a private repository: no credentials and wrong credentials give one clear line each", async () => {
    ts.reset();
    const fresh = box(mode);
    expectOneError(await fresh.run(["pull", NOTLS, `${TOKEN}/multilayer:latest`]), /multilayer.*authentication required/);
    expectOneError(await fresh.run(["pull", NOTLS, "--creds", `${ENV.AUTH_USER}:wrong`, `${TOKEN}/multilayer:latest`]), /invalid username or password/);
    expect(ts.requests.some((r) => r.status === 401)).toBe(true);
    await expectEmptyStore(fresh);
  });

  test("--creds: five layers, one token request for the repository scope", async () => {
    ts.reset();
    await b.ok(["pull", "-q", NOTLS, "--creds", `${ENV.AUTH_USER}:${ENV.AUTH_PASS}`, `${TOKEN}/multilayer:latest`]);
    const info = JSON.parse(await b.ok(["image", "inspect", `${TOKEN}/multilayer:latest`]))[0];
    expect(info.Digest).toBe(digests.multilayer);
    expect(info.RootFS.Layers.length).toBe(5);
    expect(ts.count("repository:multilayer:pull")).toBe(1);
    expect(ts.requests.every((r) => r.user === ENV.AUTH_USER)).toBe(true);
    await b.ok(["rmi", `${TOKEN}/multilayer:latest`]);
  });

  test("login against a Bearer registry: wrong password refused, then pulls use the stored credentials", async () => {
    ts.reset();
    const login = (pw: string) => b.run(["login", NOTLS, "-u", ENV.AUTH_USER, "--password-stdin", TOKEN], { stdin: `${pw}\n` });
    expectOneError(await login("wrong"), /invalid username or password/);
    const authFile = join(b.runroot, "containers/auth.json");
    expect(existsSync(authFile) ? JSON.parse(readFileSync(authFile, "utf8")).auths?.[TOKEN] : undefined).toBeUndefined();
    const ok = await login(ENV.AUTH_PASS);
    expect(ok.stderr).toBe("");
    expect(ok.stdout).toBe("Login Succeeded!\n");
    expect(JSON.parse(readFileSync(authFile, "utf8")).auths[TOKEN].auth).toBe(Buffer.from(`${ENV.AUTH_USER}:${ENV.AUTH_PASS}`).toString("base64"));
    ts.reset();
    await b.ok(["pull", "-q", NOTLS, `${TOKEN}/multilayer:latest`]);
    expect(ts.count("repository:multilayer:pull")).toBe(1);
    expect(ts.requests.every((r) => r.user === ENV.AUTH_USER)).toBe(true);
    await b.ok(["logout", TOKEN]);
  });
});

// ------------------------------------------------------------------ retries and resume

// ------------------------------------------------------------------ blob redirects

describe.each(MODES)("blobs redirected to another host (%s)", (mode) => {
  const b = box(mode);

  test("a registry that sends blobs to a CDN: followed, credentials stay with the registry, digests verified", async () => {
    const seen: { where: string; path: string; auth: string | null }[] = [];
    const forward = async (req: Request, path: string) => {
      const headers = new Headers(req.headers);
      headers.delete("host");
      headers.delete("authorization");
      const up = await fetch(`http://${REGISTRY}${path}`, { method: req.method, headers, redirect: "manual" });
      const out = new Headers(up.headers);
      for (const h of ["content-encoding", "transfer-encoding", "connection"]) out.delete(h);
      return new Response(up.body, { status: up.status, headers: out });
    };
    // the "CDN": another host:port, serving /cdn/<repo>/<digest> from the registry's blobs
    const cdn = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const u = new URL(req.url);
        seen.push({ where: "cdn", path: u.pathname, auth: req.headers.get("authorization") });
        const [, , repo, digest] = u.pathname.split("/");
        return forward(req, `/v2/${repo}/blobs/${digest}`);
      },
    });
    // the registry: Basic auth required; a blob GET is answered with a 307 to the CDN
    const front = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        const u = new URL(req.url);
        const auth = req.headers.get("authorization");
        seen.push({ where: "registry", path: u.pathname, auth });
        if (auth !== `Basic ${btoa("cdnuser:cdnpass")}`) return new Response("", { status: 401, headers: { "www-authenticate": 'Basic realm="test"' } });
        const m = /^\/v2\/([^/]+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(u.pathname);
        if (m && req.method === "GET") return new Response(null, { status: 307, headers: { location: `http://127.0.0.1:${cdn.port}/cdn/${m[1]}/${m[2]}` } });
        return forward(req, u.pathname);
      },
    });
    try {
      const ref = `127.0.0.1:${front.port}/multilayer:latest`;
      const r = await b.run(["pull", "-q", NOTLS, "--creds", "cdnuser:cdnpass", ref]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(JSON.parse(await b.ok(["image", "inspect", ref]))[0].Digest).toBe(digests.multilayer);
      const blobs = seen.filter((x) => x.where === "cdn");
      // the config and every layer came from the CDN, without the registry's credentials
      expect(blobs.length).toBe(JSON.parse(await b.ok(["image", "inspect", ref]))[0].RootFS.Layers.length + 1);
      expect(blobs.every((x) => x.auth === null)).toBe(true);
      expect(seen.filter((x) => x.where === "registry" && x.path !== "/v2/").every((x) => x.auth !== null)).toBe(true);
      await b.ok(["rmi", ref]);
    } finally {
      front.stop(true);
      cdn.stop(true);
    }
  });
});

describe.each(MODES)("retries and resumed downloads through a misbehaving proxy (%s)", (mode) => {
  let big: BigImage;
  beforeAll(() => {
    big = pushBigImage();
  });
  const via = (p: number) => `127.0.0.1:${p}/${big.repo}:latest`;
  const isLayerGet = (r: { method: string; path: string }) => r.method === "GET" && r.path === `/v2/${big.repo}/blobs/${big.layerDigest}`;

  test("the first manifest GET answers 503: retried, the pull succeeds", async () => {
    const b = box(mode);
    const proxy = await startProxy(port(REGISTRY), (r, all) =>
      r.method === "GET" && r.path.includes("/manifests/") && all.filter((x) => x.method === "GET" && x.path.includes("/manifests/")).length === 1 ? { answer: 503 } : undefined,
    );
    try {
      const id = (await b.ok(["pull", "-q", NOTLS, via(proxy.port)])).trim();
      expect(`sha256:${id}`).toBe(big.configDigest);
      const gets = proxy.requests.filter((r) => r.method === "GET" && r.path === `/v2/${big.repo}/manifests/latest`);
      expect(gets.map((r) => r.action)).toEqual(["answer", "forward"]);
      expect(gets[0].status).toBe(503);
    } finally {
      await proxy.stop();
    }
  });

  test("the connection breaks in the middle of the layer: resumed with Range, digest verified", async () => {
    const b = box(mode);
    const CUT = 100_000;
    const proxy = await startProxy(port(REGISTRY), (r, all) => {
      if (!isLayerGet(r)) return;
      return all.filter(isLayerGet).length === 1 ? { cutAfter: CUT } : { watch: true };
    });
    try {
      const id = (await b.ok(["pull", "-q", NOTLS, via(proxy.port)])).trim();
      expect(`sha256:${id}`).toBe(big.configDigest);
      const gets = proxy.requests.filter(isLayerGet);
      expect(gets.length).toBe(2);
      expect(gets[0].action).toBe("cut");
      expect(gets[0].headers.range).toBeUndefined();
      expect(gets[0].bodyBytes).toBe(CUT);
      const m = /^bytes=(\d+)-$/.exec(gets[1].headers.range ?? "");
      expect(m).not.toBeNull();
      const from = Number(m![1]);
      expect(from).toBeGreaterThan(0);
      expect(from).toBeLessThanOrEqual(CUT);
      expect(gets[1].status).toBe(206);
      // The stored blob is the whole layer, byte for byte.
      const blob = readFileSync(join(b.root, "blobs/sha256", big.layerDigest.slice(7)));
      expect(blob.length).toBe(big.layerSize);
      expect(`sha256:${new Bun.CryptoHasher("sha256").update(blob).digest("hex")}`).toBe(big.layerDigest);
      const info = JSON.parse(await b.ok(["image", "inspect", via(proxy.port)]))[0];
      expect(info.Digest).toBe(big.manifestDigest);
    } finally {
      await proxy.stop();
    }
  });

  test("the connection always breaks mid-layer: bounded retries, one clear line, nothing left in the store", async () => {
    const fresh = box(mode);
    const proxy = await startProxy(port(REGISTRY), (r) => (isLayerGet(r) ? { cutAfter: 100_000 } : undefined));
    try {
      const t0 = Date.now();
      const r = await fresh.run(["pull", NOTLS, via(proxy.port)]);
      expectOneError(r, new RegExp(`${big.layerDigest}.*(connection lost|closed)`));
      const gets = proxy.requests.filter(isLayerGet);
      expect(gets.length).toBeGreaterThan(1); // it did try to resume
      expect(gets.length).toBeLessThanOrEqual(5); // and gave up
      expect(gets.slice(1).every((g) => /^bytes=\d+-$/.test(g.headers.range ?? ""))).toBe(true);
      expect(Date.now() - t0).toBeLessThan(30_000);
      await expectEmptyStore(fresh);
    } finally {
      await proxy.stop();
    }
  });
});
