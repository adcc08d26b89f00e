// What a network mode means for one container: its /etc/hosts and
// /etc/resolv.conf, the helper the monitor starts (spec records for
// native/net.c), and cleaning up a helper whose monitor died.
import { hostname as osHostname } from "node:os";
import { closeSync, ftruncateSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { defaultRoute, hostAddress, ifacePrefixLen, type NetworkChoice } from "./mode.ts";
import { isIP, type PortMapping } from "./ports.ts";
import { landlockAbi } from "../sys/libc.ts";

/** pasta answers DNS queries sent here by forwarding them to the host's resolver (like Podman 5). */
export const PASTA_DNS = "169.254.1.1";
export const SLIRP_DNS = "10.0.2.3";
export const SLIRP_IP = "10.0.2.100";
export const SLIRP_HOST_LOOPBACK = "10.0.2.2";

/** Addresses recorded at create (inspect shows them; /etc/hosts uses them). */
export interface NetAddresses {
  /** the container's own address (pasta: a copy of the host's; slirp4netns: 10.0.2.100) */
  ip?: string;
  /** the prefix length of ip's network */
  prefixLen?: number;
  gateway?: string;
  /** what host.containers.internal resolves to */
  hostGateway?: string;
  dns?: string;
}

export function addressesFor(net: NetworkChoice): NetAddresses {
  switch (net.mode) {
    case "pasta": {
      // pasta copies the host's address and routes; packets to the gateway address
      // reach the host itself (its loopback): that is host.containers.internal.
      const r = defaultRoute();
      const mapGw = !net.options.includes("--no-map-gw");
      return { ip: hostAddress(), prefixLen: r ? ifacePrefixLen(r.iface) : undefined, gateway: r?.gateway, hostGateway: mapGw ? r?.gateway : hostAddress(), dns: PASTA_DNS };
    }
    case "slirp4netns": {
      const loop = net.options.includes("allow_host_loopback=true");
      // with the host's loopback closed (the default), the host is reached on its own address
      return { ip: SLIRP_IP, prefixLen: 24, gateway: "10.0.2.2", hostGateway: loop ? SLIRP_HOST_LOOPBACK : (hostAddress() ?? SLIRP_HOST_LOOPBACK), dns: SLIRP_DNS };
    }
    case "host":
      return { hostGateway: hostAddress() ?? "127.0.0.1" };
    default:
      return {};
  }
}

const LOCALHOST = "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost localhost.localdomain ip6-localhost ip6-loopback\n";

/** What the user asked of /etc/hosts and /etc/resolv.conf (Podman's --add-host, --dns...). */
export interface NameOptions {
  addHosts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
}

/**
 * --add-host HOST:IP as Podman checks it (the IP after the first ':', so IPv6
 * works; host-gateway is the host as the container reaches it): "IP\tHOST" lines.
 */
export function extraHostLines(list: string[], hostGateway: string | undefined): string[] {
  return list.map((e) => {
    const i = e.indexOf(":");
    const host = i < 0 ? "" : e.slice(0, i);
    let ip = i < 0 ? "" : e.slice(i + 1).replace(/^\[(.*)\]$/, "$1");
    if (ip === "host-gateway") {
      if (!hostGateway) throw new UsageError(`--add-host ${e}: this network has no host gateway address`);
      ip = hostGateway;
    }
    if (!host || /\s/.test(host) || !isIP(ip)) throw new UsageError(`invalid --add-host "${e}": use HOST:IP (IP may be host-gateway)`);
    return `${ip}\t${host}`;
  });
}

/**
 * /etc/hosts for a container with its own network namespace (or the host's),
 * laid out as Podman does: the --add-host entries first (they win), then the
 * host's own /etc/hosts, host.containers.internal, and the container's line
 * (its host name, then its name).
 */
export function hostsFile(net: NetworkChoice, a: NetAddresses, hostname: string, name: string, o: NameOptions = {}): string {
  const extra = extraHostLines(o.addHosts ?? [], a.hostGateway).map((l) => l + "\n").join("");
  const hostGw = a.hostGateway ? `${a.hostGateway}\thost.containers.internal host.docker.internal\n` : "";
  let host = "";
  try {
    host = readFileSync("/etc/hosts", "utf8");
  } catch {}
  if (net.mode === "host") {
    // the host's own file, as Podman gives it; a name of the container's own (--hostname) is added
    const own = hostname === osHostname() ? "" : `127.0.1.1\t${hostname} ${name}\n`;
    return `${extra}${host.trimEnd()}\n${own}${hostGw}`;
  }
  // the host's entries (not its comments), as "IP<tab>names"; localhost when it names none
  const base = host
    .split("\n")
    .map((l) => l.replace(/#.*/, "").trim().split(/\s+/))
    .filter((f) => f.length > 1 && isIP(f[0]!))
    .map((f) => `${f[0]}\t${f.slice(1).join(" ")}\n`)
    .join("");
  const localhost = /\slocalhost(\s|$)/m.test(base) ? "" : LOCALHOST;
  const self = names(hostname, name);
  return `${extra}${localhost}${base}${hostGw}${a.ip ? `${a.ip}\t${self}\n` : `127.0.1.1\t${self}\n`}`;
}

/**
 * rename: the container's own line in its /etc/hosts names it anew (in place:
 * the file is bind-mounted into the running container).
 */
export function renameInOwnHosts(hostsPath: string, hostname: string, oldName: string, newName: string): void {
  const from = names(hostname, oldName), to = names(hostname, newName);
  rewriteInPlace(hostsPath, (old) => old.split("\n").map((l) => (l.endsWith(`\t${from}`) ? l.slice(0, l.length - from.length) + to : l)).join("\n"));
}

/** The container's own names on its line: the host name first (hostname -f reads it), then its name. */
function names(hostname: string, name: string): string {
  return hostname === name ? name : `${hostname} ${name}`;
}

/**
 * /etc/resolv.conf: the mode's DNS, with the host's search and options lines;
 * --dns, --dns-search and --dns-option replace each kind ("." searches nothing).
 */
export function resolvConf(net: NetworkChoice, a: NetAddresses, o: NameOptions = {}): string {
  let host = "";
  try {
    host = readFileSync("/etc/resolv.conf", "utf8");
  } catch {}
  for (const d of o.dns ?? []) if (!isIP(d)) throw new UsageError(`invalid --dns "${d}": an IP address (or none)`);
  if (net.mode === "host" && !o.dns?.length && !o.dnsSearch?.length && !o.dnsOptions?.length) return host || "nameserver 127.0.0.1\n";
  const lines = (kind: RegExp) => host.split("\n").filter((l) => kind.test(l));
  const servers = o.dns?.length ? o.dns.map((d) => `nameserver ${d}`) : net.mode === "host" ? lines(/^\s*nameserver\b/) : a.dns ? [`nameserver ${a.dns}`] : [];
  if (net.mode === "host" && !servers.length) servers.push("nameserver 127.0.0.1");
  const search = o.dnsSearch?.length ? (o.dnsSearch.includes(".") ? [] : [`search ${o.dnsSearch.join(" ")}`]) : lines(/^\s*(search|domain)\b/);
  const options = o.dnsOptions?.length ? [`options ${o.dnsOptions.join(" ")}`] : lines(/^\s*options\b/);
  // no network: a resolver is useless; search/options are kept so tools behave
  const all = [...servers, ...search, ...options];
  return all.length ? all.join("\n") + "\n" : "\n";
}

function span(start: number, range: number): string {
  return range > 1 ? `${start}-${start + range - 1}` : String(start);
}

export interface HelperInput {
  net: NetworkChoice;
  helper: string;
  ports: PortMapping[];
  /** the container's directory (the helper's pid file and log live there) */
  dir: string;
  /** slirp4netns API socket (short: unix socket paths are limited to 107 bytes) */
  apiSocket: string;
  /** rootless: the container has its own user namespace, which owns its network namespace */
  rootless: boolean;
  /** pasta may start at the container's first socket (not for a pod's infra, which makes none) */
  lazy?: boolean;
  /**
   * --security-opt seccomp=unconfined: no seccomp filter in the container, the
   * network's neither: pasta starts with it and forwards every published port
   */
  unconfined?: boolean;
}

/**
 * Published TCP ports served without a forwarder (native/lend.c): the
 * server's socket is put in the host's network namespace when it binds. With
 * pasta (whose -T takes the container's own clients of the port to the host
 * port) mapping its gateway to the host's loopback (its default), on every
 * host address or one IPv4 address; a container port only when that
 * one mapping is all it has (one socket is lent one host port; pasta forwards
 * the others); at most LEND_MAX_PORTS host ports in LEND_MAX_RANGES mappings
 * (native/lend.h); where the kernel lets the monitor answer seccomp
 * notifications (user_notif) and read the binding process's memory (Yama's
 * ptrace_scope 0 or 1), and has Landlock's TCP rules (ABI 4, Linux 6.7),
 * without which nothing would keep a lent socket from connecting out.
 * TSPOD_PORT_FORWARDER=pasta: pasta forwards every port, as before.
 */
export function lentPorts(ports: PortMapping[], net: NetworkChoice): PortMapping[] {
  const tcp = ports.filter((p) => p.protocol === "tcp");
  // pasta takes unambiguous abbreviations of its long options (--no-map for --no-map-gw);
  // the kernel's probe (libc, Landlock) last: a run with no TCP port to publish never pays for it
  if (!tcp.length || net.mode !== "pasta" || net.options.some((o) => o.length > 6 && "--no-map-gw".startsWith(o.split("=")[0]!)) || !lendingWorks()) return [];
  const uses = new Map<number, number>();
  for (const p of tcp) for (let i = 0; i < p.range; i++) uses.set(p.containerPort + i, (uses.get(p.containerPort + i) ?? 0) + 1);
  // every address, or one IPv4 address (127.0.0.1, or another of the host's: bound there;
  // Debian 12's pasta garbles uploads to servers that shut their side first); IPv6 ones
  // stay pasta's (an IPv4 server could not be lent one)
  const lent = tcp.filter((p) => !p.hostIP.includes(":") &&
    Array.from({ length: p.range }, (_, i) => uses.get(p.containerPort + i) === 1).every(Boolean));
  return lent.length <= LEND_MAX_RANGES && lent.reduce((n, p) => n + p.range, 0) <= LEND_MAX_PORTS ? lent : [];
}
const LEND_MAX_PORTS = 1024, LEND_MAX_RANGES = 256;

function readTrim(f: string): string | undefined {
  try {
    return readFileSync(f, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** The kernel lets a monitor answer a container's seccomp notifications (SECCOMP_RET_USER_NOTIF, 5.0). */
function userNotif(): boolean {
  return (readTrim("/proc/sys/kernel/seccomp/actions_avail") ?? "").split(/\s+/).includes("user_notif");
}

let lendOk: boolean | undefined;
function lendingWorks(): boolean {
  if (lendOk !== undefined) return lendOk;
  if (process.env.TSPOD_PORT_FORWARDER === "pasta") return (lendOk = false);
  const yama = Number(readTrim("/proc/sys/kernel/yama/ptrace_scope") ?? "0");
  // Landlock 4 (Linux 6.7): what keeps lent sockets from connecting out (native/lend.c)
  return (lendOk = userNotif() && yama <= 1 && landlockAbi() >= 4);
}

/**
 * pasta started at the container's first socket (net.lazy, native/lend.c):
 * where the kernel lets the monitor answer seccomp notifications, and this
 * process runs under no seccomp filter (a filter with a listener above would
 * make the container's refused, EBUSY; inside another engine's container
 * pasta starts with the container, as before). TSPOD_NET_START=eager: always
 * with the container.
 */
function lazyWorks(): boolean {
  if (process.env.TSPOD_NET_START === "eager") return false;
  const seccomp = /^Seccomp:\s*(\d+)/m.exec(readTrim("/proc/self/status") ?? "")?.[1];
  return seccomp === "0" && userNotif();
}

/** A lent port on every address of the host's ("" or 0.0.0.0), not one. */
const everyAddress = (p: PortMapping) => p.hostIP === "" || p.hostIP === "0.0.0.0";
/** ... or on its loopback too (where pasta's -T takes the container's own clients). */
const onLoopback = (p: PortMapping) => everyAddress(p) || p.hostIP === "127.0.0.1";

/** net.lend records: the lent ports, as native/lend.c reads them (HOSTIP "" for every address). */
export function lendRecords(ports: PortMapping[], net: NetworkChoice): [string, string][] {
  return lentPorts(ports, net).map((p) => ["net.lend", [everyAddress(p) ? "" : p.hostIP, p.hostPort, p.containerPort, p.range].join("\t")]);
}

/** The values of a spec file's records of one key (native/spec.h: "key=value" records, NUL after each). */
function specValues(specPath: string, key: string): string[] {
  try {
    return readFileSync(specPath, "utf8").split("\0").filter((r) => r.startsWith(`${key}=`)).map((r) => r.slice(key.length + 1));
  } catch {
    return [];
  }
}

/** The net.lend records of a spec file (a container joining that one's network serves them too). */
export function specLendRecords(specPath: string): [string, string][] {
  return specValues(specPath, "net.lend").map((v) => ["net.lend", v]);
}

/** The spec's pasta starts at the container's first socket (a container joining its network asks for it first). */
export function specNetLazy(specPath: string): boolean {
  return specValues(specPath, "net.lazy").includes("1");
}

/** The spec records that make the monitor start the helper (see native/spec.h, native/net.c). */
export function helperRecords(i: HelperInput): [string, string][] {
  const recs: [string, string][] = [];
  const pidfile = join(i.dir, "net.pid");
  let argv: string[];
  const lent = i.net.mode === "pasta" && !i.unconfined ? lentPorts(i.ports, i.net) : [];
  if (i.net.mode === "pasta") {
    const tcp = i.ports.filter((p) => p.protocol === "tcp" && !lent.includes(p));
    const fwd = (p: PortMapping) => `${p.hostIP ? `${p.hostIP}/` : ""}${span(p.hostPort, p.range)}:${span(p.containerPort, p.range)}`;
    argv = [
      // in the foreground: the monitor's child, dying with it (native/net.c)
      i.helper, "--foreground", "--config-net", "--quiet",
      ...(tcp.length ? tcp.flatMap((p) => ["-t", fwd(p)]) : ["-t", "none"]),
      // UDP ports: tspod's own forwarder (native/udpfwd.c); this pasta loses the replies to a host loopback client
      "-u", "none",
      // lent ports: the container's own clients reach the server on the host port (on the
      // host's loopback: not for one published on another address, whose clients the
      // monitor sends there, native/lend.c)
      ...(lent.some(onLoopback) ? lent.filter(onLoopback).flatMap((p) => ["-T", `${span(p.containerPort, p.range)}:${span(p.hostPort, p.range)}`]) : ["-T", "none"]),
      "-U", "none",
      "--dns-forward", PASTA_DNS,
      "--pid", "@READY@", // <dir>/net.ready, a symlink to a pipe to the monitor: readiness (native/net.c)
      ...i.net.options.filter((o) => o !== "--map-gw"),
      // the namespaces come as fds the monitor holds (native/net.c); as root, pasta
      // keeps uid 0 (as nobody it could not enter a namespace root owns)
      ...(i.rootless ? ["--userns", "@USERNS@"] : ["--runas", "0"]),
      "--netns", "@NETNS@", "--no-netns-quit",
    ];
  } else {
    const opt = (k: string) => i.net.options.find((o) => o.startsWith(`${k}=`))?.slice(k.length + 1);
    argv = [
      i.helper, "--configure", `--mtu=${opt("mtu") ?? "65520"}`,
      ...(opt("allow_host_loopback") === "true" ? [] : ["--disable-host-loopback"]),
      ...(opt("cidr") ? [`--cidr=${opt("cidr")}`] : []),
      ...(opt("enable_ipv6") === "true" ? ["--enable-ipv6"] : []),
      // --enable-sandbox cannot be combined with --userns-path (slirp4netns 1.2: "setegid(0) parent failed")
      ...(i.rootless ? [] : ["--enable-sandbox"]), "--enable-seccomp",
      "--ready-fd=3", "--exit-fd=4",
      "--api-socket", i.apiSocket,
      "--netns-type=path", ...(i.rootless ? ["--userns-path", "@USERNS@"] : []),
      "@NETNS@", "tap0",
    ];
    recs.push(["net.api", i.apiSocket]);
  }
  // pasta at the first socket: when it forwards no port itself (lent TCP ports are
  // the monitor's, -T serves the container's own clients once pasta is up) and takes
  // no options of the user's (a wrong one fails at start, as before)
  if (i.lazy && !i.unconfined && i.net.mode === "pasta" && !i.net.options.length && i.ports.every((p) => lent.includes(p)) && lazyWorks()) recs.push(["net.lazy", "1"]);
  recs.unshift(["net.helper", i.net.mode]);
  for (const a of argv) recs.push(["net.arg", a]);
  recs.push(["net.pidfile", pidfile]);
  for (const p of i.ports) recs.push(["net.port", [p.protocol, p.hostIP, p.hostPort, p.containerPort, p.range].join("\t")]);
  if (!i.unconfined) recs.push(...lendRecords(i.ports, i.net));
  return recs;
}

/**
 * The monitor kills its helper; if the monitor itself was killed, the helper
 * (pasta daemonizes) may be left holding ports. Kill it when its pid file
 * names a pasta/slirp4netns process that belongs to this container.
 */
export function killStrayHelper(dir: string, id: string): void {
  let pid: number;
  try {
    pid = Number(readFileSync(join(dir, "net.pid"), "utf8").trim());
  } catch {
    return;
  }
  if (!(pid > 0)) return;
  let cmdline: string[];
  try {
    cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return;
  }
  const exe = cmdline[0]?.split("/").pop() ?? "";
  if (!/^(pasta|pasta\.avx2|passt|passt\.avx2|slirp4netns)$/.test(exe)) return;
  if (!cmdline.some((a) => a.includes(id.slice(0, 12)))) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  // its ports are free once it is dead (a zombie holds no sockets)
  for (let i = 0; i < 400; i++) {
    let st = "";
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      st = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    } catch {
      return;
    }
    if (st === "Z" || st === "X") return;
    Bun.sleepSync(5);
  }
}

/** Rewrite a file in place (it is bind-mounted into running containers: a rename would not reach them). */
export function rewriteInPlace(path: string, fn: (old: string) => string): void {
  let old = "";
  try {
    old = readFileSync(path, "utf8");
  } catch {
    return;
  }
  const next = fn(old);
  if (next === old) return;
  const fd = openSync(path, "r+");
  try {
    const buf = Buffer.from(next);
    writeSync(fd, buf, 0, buf.length, 0);
    ftruncateSync(fd, buf.length);
  } finally {
    closeSync(fd);
  }
}
