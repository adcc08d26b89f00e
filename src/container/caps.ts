// Capabilities: Podman's default set, --cap-add / --cap-drop merged into it as
// Podman merges them (containers/common's MergeCapabilities), and the sets
// inspect shows.
import { readFileSync } from "node:fs";
import { UsageError } from "../errors.ts";

/** Every capability by number (linux/capability.h); the build writes native/container.c's list from this one. */
export const CAP_NAMES = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID",
  "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN",
  "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE",
  "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP",
  "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
  "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
];

/** Podman's default capabilities. */
export const DEFAULT_CAPS = [
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE",
  "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
];

/** Docker's default set: inspect's HostConfig.CapAdd and CapDrop are relative to it, as Podman's are. */
const DOCKER_DEFAULT_CAPS = [...DEFAULT_CAPS, "CAP_AUDIT_WRITE", "CAP_MKNOD", "CAP_NET_RAW"];

/**
 * ALL: every capability this kernel has (up to cap_last_cap). A new user
 * namespace (rootless) starts with every one in its bounding set; as root, the
 * container can have no more than this process's bounding set holds.
 */
function allCaps(rootless: boolean): string[] {
  let last = CAP_NAMES.length - 1;
  let bounding = ~0n;
  try {
    last = Math.min(last, Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8").trim()));
    if (!rootless) bounding = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))![1]}`);
  } catch {}
  return CAP_NAMES.slice(0, last + 1).filter((_, i) => (bounding >> BigInt(i)) & 1n);
}

/** One flag's values (each may be a comma-separated list) as CAP_ names, or ALL; unknown ones refused. */
function normalize(flag: string, values: string[]): string[] {
  const out: string[] = [];
  for (const v of values.flatMap((x) => x.split(","))) {
    // (as Podman: no trimming; an empty item, as in "NET_ADMIN,", is the unknown "CAP_")
    const name = v.toUpperCase();
    if (name === "ALL") out.push("ALL");
    else {
      const cap = name.startsWith("CAP_") ? name : `CAP_${name}`;
      if (!CAP_NAMES.includes(cap)) throw new UsageError(`--${flag} ${v}: unknown capability "${cap}"`);
      out.push(cap);
    }
  }
  return [...new Set(out)];
}

export interface CapSets {
  /** the bounding set (and, for root, the effective one), sorted */
  caps: string[];
  /** what --cap-add asked for (ALL as every one): a user other than root gets these as ambient capabilities, as Podman gives them */
  added: string[];
}

/** Podman's default set with --cap-add and --cap-drop applied, with Podman's rules and refusals. */
export function mergeCaps(add: string[], drop: string[], rootless: boolean): CapSets {
  const a = normalize("cap-add", add), d = normalize("cap-drop", drop);
  if (a.includes("ALL") && d.includes("ALL")) throw new UsageError("adding all caps and removing all caps not allowed");
  const both = a.find((c) => c !== "ALL" && d.includes(c));
  if (both) throw new UsageError(`capability "${both}" cannot be dropped and added`);
  if (d.includes("ALL")) return { caps: [...a].sort(), added: [...a].sort() };
  // ALL added: every capability, less the dropped ones (which ALL does not overrule)
  const added = (a.includes("ALL") ? allCaps(rootless) : a).filter((c) => !d.includes(c));
  const base = a.includes("ALL") ? allCaps(rootless) : DEFAULT_CAPS;
  const caps = [...new Set([...base.filter((c) => !d.includes(c)), ...added])].sort();
  return { caps, added: [...added].sort() };
}

/** Whether a user spec (-u, or the image's USER) is root, as Podman decides it for capabilities. */
export function isRootUser(user: string): boolean {
  const u = user.split(":")[0];
  return u === "" || u === "root" || u === "0";
}

/** inspect's EffectiveCaps, BoundingCaps, HostConfig.CapAdd and CapDrop (Podman's: null for an empty set). */
export function inspectCaps(caps: string[], added: string[], user: string) {
  const nil = (l: string[]) => (l.length ? l : null);
  return {
    effective: nil(isRootUser(user) ? caps : added.filter((c) => caps.includes(c))),
    bounding: nil(caps),
    capAdd: caps.filter((c) => !DOCKER_DEFAULT_CAPS.includes(c)),
    capDrop: DOCKER_DEFAULT_CAPS.filter((c) => !caps.includes(c)).sort(),
  };
}
