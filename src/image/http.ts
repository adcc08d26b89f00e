// HTTP for registries: the real undici (Bun's `import "undici"` is a stand-in
// whose Agent does nothing; the package's own files are the real thing).
//
// Only the parts tspod uses are loaded: undici/index.js also loads fetch,
// WebSocket, the mock agents and the SQLite cache store, which cost ~20 ms of
// every pull's start-up in the compiled binary (measured: importing this module
// took 20-23 ms with index.js). The Dispatcher gets request() exactly as
// index.js gives it (its stream/pipeline/upgrade/connect APIs, which tspod does
// not use, are not loaded: ~1.5 ms), and request(url, opts) does what
// index.js's does for the options tspod passes (a dispatcher is always given).
import type { Dispatcher, Agent } from "undici";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { precompile } from "./llhttp.ts";
precompile(); // first: JSC compiles llhttp while undici loads
/* eslint-disable @typescript-eslint/no-require-imports */
const AgentClass = require("undici/lib/dispatcher/agent.js") as typeof import("undici").Agent;
const DispatcherClass = require("undici/lib/dispatcher/dispatcher.js");
const buildConnector = require("undici/lib/core/connect.js") as typeof import("undici").buildConnector;
DispatcherClass.prototype.request = require("undici/lib/api/api-request.js");
/* eslint-enable @typescript-eslint/no-require-imports */

type RequestOptions = Omit<Dispatcher.RequestOptions, "origin" | "path" | "method"> & { method?: Dispatcher.HttpMethod; dispatcher: Dispatcher };

function request(url: string | URL, opts: RequestOptions): Promise<Dispatcher.ResponseData> {
  const u = typeof url === "string" ? new URL(url) : url;
  return opts.dispatcher.request({ ...opts, origin: u.origin, path: `${u.pathname}${u.search}`, method: opts.method ?? "GET" });
}

const undici = { Agent: AgentClass, request, buildConnector };
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { homedir } from "node:os";

export { undici };
export type { Dispatcher };

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
        out.push(readFileSync(join(d, f), "utf8"));
      } catch {}
    }
  }
  return out;
}

/** The options every registry Agent is made with; only `connect` differs. */
export function makeAgent(connect: Agent.Options["connect"]): Dispatcher {
  return new undici.Agent({ connections: 8, pipelining: 1, keepAliveTimeout: 10_000, connect });
}

const agents = new Map<string, Dispatcher>();

/**
 * One keep-alive agent per (host, tls-verify) so connections are reused across a pull.
 * CAs from certs.d are added to the system's (as Podman does), not put in their place.
 */
export function agentFor(host: string, tlsVerify: boolean, certDir?: string): Dispatcher {
  const key = `${host}|${tlsVerify}|${certDir ?? ""}`;
  let a = agents.get(key);
  if (!a) {
    const ca = tlsVerify ? certsFor(host, certDir) : [];
    // node:tls only when a CA is added (~4 ms of start-up; undici loads it itself for https).
    const roots = () => (require("node:tls") as typeof import("node:tls")).rootCertificates;
    a = makeAgent({ rejectUnauthorized: tlsVerify, ...(ca.length ? { ca: [...roots(), ...ca] } : {}) });
    agents.set(key, a);
  }
  return a;
}

/**
 * Run fn once the next request is on the wire (undici publishes
 * `undici:request:bodySent` after writing it), so that work that can wait for
 * the registry's answer is done while it comes, not before the request goes.
 * fn runs at most once; the function returned stops waiting.
 */
export function whenRequestSent(fn: () => void): () => void {
  const channel = "undici:request:bodySent";
  let waiting = true;
  const stop = () => {
    if (waiting) unsubscribe(channel, onSent);
    waiting = false;
  };
  const onSent = () => {
    if (!waiting) return;
    stop();
    queueMicrotask(fn); // once undici has finished writing
  };
  subscribe(channel, onSent);
  return stop;
}

/**
 * The end of a command: every connection closed at once (nothing is pending by
 * then), instead of close() waiting for each socket's close to come back
 * (a pull's last step, saved to done: 1.2-1.8 -> 1.2-1.4 ms in a trace).
 */
export async function closeAgents(): Promise<void> {
  const all = [...agents.values()];
  agents.clear();
  await Promise.all(all.map((a) => a.destroy().catch(() => {})));
}
