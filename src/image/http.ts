// HTTP for registries: the real undici (Bun's `import "undici"` is a stand-in
// whose Agent does nothing; `undici/index.js` is the real package).
import type { Dispatcher } from "undici";
// eslint-disable-next-line @typescript-eslint/no-require-imports
const undici = require("undici/index.js") as typeof import("undici");
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { homedir } from "node:os";

export { undici };
export type { Dispatcher };

/** Certificates for a registry the way Podman finds them: certs.d/<host>/*.crt. */
export function certsFor(host: string): string[] {
  const dirs = [
    process.env.TSPOD_CERTS_DIR ? join(process.env.TSPOD_CERTS_DIR, host) : "",
    join(process.env.XDG_CONFIG_HOME || join(process.env.HOME || homedir(), ".config"), "containers/certs.d", host),
    join("/etc/containers/certs.d", host),
    join("/etc/docker/certs.d", host),
  ].filter(Boolean);
  const out: string[] = [];
  for (const d of dirs) {
    try {
      for (const f of readdirSync(d)) if (f.endsWith(".crt")) out.push(readFileSync(join(d, f), "utf8"));
    } catch {}
  }
  return out;
}

const agents = new Map<string, Dispatcher>();

/** One keep-alive agent per (host, tls-verify) so connections are reused across a pull. */
export function agentFor(host: string, tlsVerify: boolean): Dispatcher {
  const key = `${host}|${tlsVerify}`;
  let a = agents.get(key);
  if (!a) {
    const ca = certsFor(host);
    a = new undici.Agent({
      connections: 8,
      pipelining: 1,
      keepAliveTimeout: 10_000,
      connect: { rejectUnauthorized: tlsVerify, ...(ca.length ? { ca } : {}) },
    });
    agents.set(key, a);
  }
  return a;
}

export async function closeAgents(): Promise<void> {
  await Promise.all([...agents.values()].map((a) => a.close().catch(() => {})));
  agents.clear();
}
