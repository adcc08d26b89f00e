// Published ports: parsing -p/--publish and -P, and printing them the way
// Podman does (ps PORTS, `port`, inspect NetworkSettings.Ports).
import { UsageError } from "../errors.ts";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** An IPv4 or IPv6 address (node:net's isIP costs a module load on every create). */
export function isIP(s: string): boolean {
  if (IPV4.test(s)) return true;
  if (!/^[0-9a-fA-F:.]+$/.test(s) || (s.match(/:/g) ?? []).length < 2) return false;
  try {
    return new URL(`http://[${s}]/`).hostname.length > 2;
  } catch {
    return false;
  }
}

/** hostPort..hostPort+range-1 on the host -> containerPort..containerPort+range-1 in the container. */
export interface PortMapping {
  /** "" = every address */
  hostIP: string;
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
  range: number;
}

function portRange(s: string, what: string, spec: string): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(s);
  if (!m) throw new UsageError(`invalid port "${spec}": ${what} "${s}" is not a port or a range`);
  const a = Number(m[1]);
  const b = m[2] !== undefined ? Number(m[2]) : a;
  if (a < 1 || a > 65535 || b < 1 || b > 65535) throw new UsageError(`invalid port "${spec}": ${what} ${s} is not in 1-65535`);
  if (b < a) throw new UsageError(`invalid port "${spec}": range ${s} ends before it starts`);
  return [a, b - a + 1];
}

/**
 * -p [[IP:][HOSTPORT]:]CONTAINERPORT[/PROTO], ports or equal-length ranges
 * (8000-8002:80-82). A missing host port is left 0: a free one is picked at create.
 */
export function parsePublish(spec: string): PortMapping[] {
  let s = spec.trim();
  let protos: ("tcp" | "udp")[] = ["tcp"];
  const slash = s.lastIndexOf("/");
  if (slash >= 0) {
    const p = s.slice(slash + 1).toLowerCase();
    const list = p.split(",");
    if (!list.length || list.some((x) => x !== "tcp" && x !== "udp")) throw new UsageError(`invalid port "${spec}": protocol must be tcp or udp`);
    protos = [...new Set(list)] as ("tcp" | "udp")[];
    s = s.slice(0, slash);
  }
  let ip = "";
  // [v6]:host:ctr
  const v6 = /^\[([^\]]+)\]:(.*)$/.exec(s);
  let rest: string[];
  if (v6) {
    ip = v6[1];
    rest = v6[2].split(":");
    if (rest.length !== 2) throw new UsageError(`invalid port "${spec}": use [IP]:HOSTPORT:CONTAINERPORT`);
  } else {
    const parts = s.split(":");
    if (parts.length === 3) {
      ip = parts[0];
      rest = parts.slice(1);
    } else if (parts.length <= 2) rest = parts.length === 2 ? parts : ["", parts[0]];
    else throw new UsageError(`invalid port "${spec}": use [[IP:][HOSTPORT]:]CONTAINERPORT[/tcp|/udp]`);
  }
  if (ip && !isIP(ip)) throw new UsageError(`invalid port "${spec}": "${ip}" is not an IP address`);
  if (ip === "0.0.0.0") ip = "";
  const [cStart, cCount] = portRange(rest[1], "container port", spec);
  let hStart = 0;
  if (rest[0] !== "") {
    const [h, hCount] = portRange(rest[0], "host port", spec);
    if (hCount !== cCount) throw new UsageError(`invalid port "${spec}": the host range has ${hCount} ports, the container range ${cCount}`);
    hStart = h;
  }
  return protos.map((protocol) => ({ hostIP: ip, hostPort: hStart, containerPort: cStart, protocol, range: cCount }));
}

/** A free port on the host (the kernel's pick), checked for TCP and UDP alike. */
export async function freePort(ip: string, protocol: "tcp" | "udp", avoid: Set<string>): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await listenOnce(ip, 0);
    const key = `${protocol}/${port}`;
    if (!port || avoid.has(key)) continue;
    if (protocol === "udp" && !(await udpFree(ip, port))) continue;
    avoid.add(key);
    return port;
  }
  throw new UsageError("could not find a free host port");
}

async function udpFree(ip: string, port: number): Promise<boolean> {
  const dgram = await import("node:dgram");
  return new Promise((resolve) => {
    const s = dgram.createSocket(ip.includes(":") ? "udp6" : "udp4");
    s.once("error", () => resolve(false));
    s.bind({ address: ip || "0.0.0.0", port, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A TCP listener on ip:port (0: the kernel's pick), closed again at once: the port it had. */
async function listenOnce(ip: string, port: number): Promise<number> {
  const { createServer } = await import("node:net");
  return new Promise<number>((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen({ host: ip || "0.0.0.0", port, exclusive: true }, () => {
      const a = srv.address();
      srv.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

/** A given port free on the host now (for TCP: listen works; for UDP: bind). */
async function portFree(ip: string, protocol: "tcp" | "udp", port: number): Promise<boolean> {
  if (protocol === "udp") return udpFree(ip, port);
  return listenOnce(ip, port).then(() => true, () => false);
}

/** count consecutive free host ports (the kernel's pick, then the ones after it): the first. */
async function freeRange(ip: string, protocol: "tcp" | "udp", count: number, avoid: Set<string>): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const start = await freePort(ip, protocol, new Set(avoid));
    if (start + count - 1 > 65535) continue;
    let ok = true;
    for (let p = start + 1; p < start + count && ok; p++) ok = !avoid.has(`${protocol}/${p}`) && (await portFree(ip, protocol, p));
    if (!ok) continue;
    for (let p = start; p < start + count; p++) avoid.add(`${protocol}/${p}`);
    return start;
  }
  throw new UsageError(`could not find ${count} consecutive free host ports`);
}

/** Fill in host ports left 0 (-p 80, -p 8000-8002, -P): a range gets consecutive free ports, as with Podman. */
export async function assignHostPorts(list: PortMapping[]): Promise<PortMapping[]> {
  const avoid = new Set<string>();
  for (const m of list) if (m.hostPort) for (let i = 0; i < m.range; i++) avoid.add(`${m.protocol}/${m.hostPort + i}`);
  const out: PortMapping[] = [];
  for (const m of list) {
    if (m.hostPort) out.push(m);
    else if (m.range > 1) out.push({ ...m, hostPort: await freeRange(m.hostIP, m.protocol, m.range, avoid) });
    else out.push({ ...m, hostPort: await freePort(m.hostIP, m.protocol, avoid) });
  }
  return out;
}

/** Two mappings may not claim the same host port (same protocol, overlapping addresses). */
export function checkConflicts(list: PortMapping[]): void {
  const seen = new Map<string, string[]>();
  for (const m of list) {
    for (let i = 0; i < m.range; i++) {
      const key = `${m.hostPort + i}/${m.protocol}`;
      const ips = seen.get(key) ?? [];
      if (ips.some((ip) => ip === "" || m.hostIP === "" || ip === m.hostIP)) throw new UsageError(`host port ${key} is published twice`);
      ips.push(m.hostIP);
      seen.set(key, ips);
    }
  }
}

/** The image's ExposedPorts keys: "80/tcp", "53/udp", "8000-8002/tcp". */
export function exposedToMappings(exposed: Record<string, unknown> | undefined): PortMapping[] {
  const out: PortMapping[] = [];
  for (const key of Object.keys(exposed ?? {})) {
    const [p, proto = "tcp"] = key.split("/");
    if (proto !== "tcp" && proto !== "udp") continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(p);
    if (!m) continue;
    const a = Number(m[1]), b = m[2] ? Number(m[2]) : a;
    out.push({ hostIP: "", hostPort: 0, containerPort: a, protocol: proto, range: b - a + 1 });
  }
  return out;
}

function span(start: number, range: number): string {
  return range > 1 ? `${start}-${start + range - 1}` : String(start);
}

function hostAddr(ip: string): string {
  return ip === "" ? "0.0.0.0" : ip.includes(":") ? `[${ip}]` : ip;
}

/** ps PORTS: "0.0.0.0:8080->80/tcp, 127.0.0.1:8000-8002->80-82/udp" */
export function formatPortsColumn(list: PortMapping[] | undefined): string {
  return (list ?? []).map((m) => `${hostAddr(m.hostIP)}:${span(m.hostPort, m.range)}->${span(m.containerPort, m.range)}/${m.protocol}`).join(", ");
}

/** One line per container port, like `podman port`: "80/tcp -> 0.0.0.0:8080". */
export function portLines(list: PortMapping[] | undefined): { key: string; host: string }[] {
  const out: { key: string; host: string }[] = [];
  for (const m of list ?? []) for (let i = 0; i < m.range; i++) out.push({ key: `${m.containerPort + i}/${m.protocol}`, host: `${hostAddr(m.hostIP)}:${m.hostPort + i}` });
  return out;
}

/** inspect NetworkSettings.Ports / HostConfig.PortBindings. */
export function portBindings(list: PortMapping[] | undefined, exposed: string[] = []): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const e of exposed) out[e] = null;
  for (const m of list ?? []) {
    for (let i = 0; i < m.range; i++) {
      const k = `${m.containerPort + i}/${m.protocol}`;
      (out[k] ??= []).push({ HostIp: m.hostIP, HostPort: String(m.hostPort + i) });
    }
  }
  return out;
}

/**
 * What the network can publish: nothing without one; slirp4netns's port
 * forwarding listens on IPv4 only, so an IPv6 host address needs pasta.
 */
export function checkPortsForNetwork(ports: PortMapping[], mode: string): void {
  if (!ports.length) return;
  if (mode === "none") throw new UsageError("published ports need a network: use --network pasta or slirp4netns, not none");
  const v6 = ports.find((p) => p.hostIP.includes(":"));
  if (mode === "slirp4netns" && v6) throw new UsageError(`cannot publish port [${v6.hostIP}]:${v6.hostPort}/${v6.protocol}: slirp4netns forwards IPv4 host addresses only (use --network pasta)`);
}
