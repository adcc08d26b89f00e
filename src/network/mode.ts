// Network modes: none | host | pasta | slirp4netns | container:ID, the default
// (pasta when usable, else slirp4netns, else none, said once), and the host
// facts the modes need (default route, the host's address).
import { accessSync, constants, readFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { warnOnce } from "../context.ts";
import { UsageError } from "../errors.ts";

export type NetMode = "none" | "host" | "pasta" | "slirp4netns" | "container";

export interface NetworkChoice {
  mode: NetMode;
  /** container:NAME|ID as given (resolved to an ID at create) */
  target?: string;
  /** pasta:OPT,OPT (extra pasta arguments) or slirp4netns:KEY=VAL,... */
  options: string[];
}

const SLIRP_OPTIONS = ["allow_host_loopback", "mtu", "cidr", "enable_ipv6"];

/** Parse --network; undefined or "" (and Docker's "bridge"/"default") mean the default. */
export function parseNetwork(s: string | undefined): NetworkChoice | undefined {
  if (s === undefined || s === "" || s === "bridge" || s === "default" || s === "private") return undefined;
  const i = s.indexOf(":");
  const head = i < 0 ? s : s.slice(0, i);
  const rest = i < 0 ? "" : s.slice(i + 1);
  switch (head) {
    case "none":
    case "host":
      if (rest) throw new UsageError(`--network ${head} takes no options`);
      return { mode: head, options: [] };
    case "pasta":
      return { mode: "pasta", options: rest ? rest.split(",").filter(Boolean) : [] };
    case "slirp4netns": {
      const options = rest ? rest.split(",").filter(Boolean) : [];
      for (const o of options) {
        const k = o.split("=")[0];
        if (!SLIRP_OPTIONS.includes(k)) throw new UsageError(`--network slirp4netns: unknown option ${k} (supported: ${SLIRP_OPTIONS.join(", ")})`);
      }
      return { mode: "slirp4netns", options };
    }
    case "container":
      if (!rest) throw new UsageError("--network container: needs a container name or ID (container:NAME)");
      return { mode: "container", target: rest, options: [] };
    default:
      throw new UsageError(
        `unknown network mode "${s}": use none, host, pasta, slirp4netns or container:NAME (for containers that talk by name, put them in a pod: tspod pod create, run --pod)`,
      );
  }
}

function which(cmd: string): string | undefined {
  return Bun.which(cmd) ?? undefined;
}

export function tunUsable(): boolean {
  try {
    accessSync("/dev/net/tun", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function helperPath(mode: "pasta" | "slirp4netns"): string {
  const p = which(mode);
  if (!p) throw new UsageError(`--network ${mode}: ${mode} is not installed (Debian: apt install ${mode === "pasta" ? "passt" : "slirp4netns"})`);
  if (!tunUsable()) throw new UsageError(`--network ${mode}: /dev/net/tun is missing or not read-write for this user`);
  return p;
}

/** pasta when installed, /dev/net/tun usable and the host has a default route; else slirp4netns; else none, said once. */
export function defaultNetwork(): NetworkChoice {
  const tun = tunUsable();
  if (tun && which("pasta") && defaultRoute()) return { mode: "pasta", options: [] };
  if (tun && which("slirp4netns")) return { mode: "slirp4netns", options: [] };
  warnOnce(
    "no-network-helper",
    `containers get no network (--network none): ${tun ? "neither pasta (package passt) nor slirp4netns is installed" : "/dev/net/tun is missing or not read-write for this user"}`,
  );
  return { mode: "none", options: [] };
}

/** The IPv4 default route from /proc/net/route. */
export function defaultRoute(): { iface: string; gateway: string } | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/net/route", "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || f[1] !== "00000000" || f[7] !== "00000000") continue;
    const flags = parseInt(f[3], 16);
    if (!(flags & 1)) continue; // RTF_UP
    const g = parseInt(f[2], 16);
    const gateway = [g & 255, (g >>> 8) & 255, (g >>> 16) & 255, (g >>> 24) & 255].join(".");
    return { iface: f[0], gateway };
  }
  return undefined;
}

/** The first IPv4 address of an interface. */
export function ifaceIPv4(iface: string): string | undefined {
  return networkInterfaces()[iface]?.find((a) => a.family === "IPv4")?.address;
}

/** The prefix length of an interface's IPv4 address (from its netmask). */
export function ifacePrefixLen(iface: string): number | undefined {
  const cidr = networkInterfaces()[iface]?.find((a) => a.family === "IPv4")?.cidr;
  return cidr ? Number(cidr.split("/")[1]) : undefined;
}

/** The host's main address: the one on the default route's interface. */
export function hostAddress(): string | undefined {
  const r = defaultRoute();
  return r ? ifaceIPv4(r.iface) : undefined;
}
