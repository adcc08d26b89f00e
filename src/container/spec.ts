// The runtime spec for native/container.c: NUL-terminated key=value records.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { ContainerConfig, MountSpec } from "./record.ts";
import { keptUsernsFile, type UserNsMaps } from "../sys/idmap.ts";
import { DEFAULT_CAPS } from "./caps.ts";

/** Podman's default masked and read-only paths. */
export const MASKED_PATHS = [
  "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
  "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/fs/selinux", "/sys/dev/block",
];
export const READONLY_PATHS = ["/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/** Current hard limits from /proc/self/limits: a container may not ask for more. */
export function hardLimits(): Record<string, number> {
  const names: Record<string, string> = { "Max open files": "RLIMIT_NOFILE", "Max processes": "RLIMIT_NPROC" };
  const out: Record<string, number> = {};
  try {
    for (const line of readFileSync("/proc/self/limits", "utf8").split("\n")) {
      for (const [label, key] of Object.entries(names)) {
        if (line.startsWith(label)) {
          const hard = line.slice(26).trim().split(/\s+/)[1];
          out[key] = hard === "unlimited" ? Number.MAX_SAFE_INTEGER : Number(hard);
        }
      }
    }
  } catch {}
  return out;
}

export interface ResolvedUser {
  uid: number;
  gid: number;
  groups: number[];
  home?: string;
}

export interface SpecInput {
  cfg: ContainerConfig;
  user: ResolvedUser;
  maps: UserNsMaps;
  rootless: boolean;
  lowerBase: string;
  /** lower dirs relative to lowerBase, top-most first */
  lowers: string[];
  dir: string;
  /** cgroup.procs files the process joins before it runs */
  cgroupProcs: string[];
  /** net.* records: the helper the monitor starts (src/network/setup.ts) */
  netRecords?: [string, string][];
}

export function buildSpec(i: SpecInput): Uint8Array {
  const { cfg } = i;
  const recs: string[] = [];
  const add = (k: string, v: string | number) => recs.push(`${k}=${v}`);
  for (const a of cfg.command) add("arg", a);
  for (const e of cfg.env) add("env", e);
  add("cwd", cfg.workdir || "/");
  add("uid", i.user.uid);
  add("gid", i.user.gid);
  if (i.user.groups.length) add("groups", i.user.groups.join(","));
  add("hostname", cfg.hostname);
  if (i.rootless) add("ns", "user");
  for (const ns of ["mnt", "pid", "uts", "ipc"]) add("ns", ns);
  if (cfg.network.startsWith("container:")) {
    // another container's network namespace (and, rootless, its user namespace):
    // the monitor is given that container's pid at start (--join-pid)
    add("ns", "net");
    add("netns", "join");
    for (const [k, v] of i.netRecords ?? []) add(k, v);
  } else if (cfg.network !== "host") {
    add("ns", "net");
    // Podman's default: unprivileged ICMP sockets, so ping works without CAP_NET_RAW
    add("sysctl", "net.ipv4.ping_group_range=0 0");
    for (const [k, v] of i.netRecords ?? []) add(k, v);
  }
  if (i.rootless && i.maps.uidSpec && i.maps.gidSpec) {
    add("uidmap", i.maps.uidSpec);
    add("gidmap", i.maps.gidSpec);
    // the user namespace the storage helpers use too, kept by one process (as
    // Podman's containers share its pause process's): no newuidmap per start
    add("userns.keep", keptUsernsFile());
  }
  if (cfg.infra) {
    // a pod's infra: no root filesystem, nothing to exec; it holds the namespaces
    add("pause", "1");
    for (const c of DEFAULT_CAPS) add("cap", c);
    add("no_new_privs", "1");
    return new TextEncoder().encode(recs.map((r) => r + "\0").join(""));
  }
  add("rootfs", join(i.dir, "merged"));
  add("rootfs.driver", cfg.driver);
  if (cfg.driver === "vfs") {
    // the copy lives in merged/ itself
  } else {
    add("rootfs.lowerbase", i.lowerBase);
    for (const l of i.lowers) add("rootfs.lower", l);
    add("rootfs.upper", join(i.dir, "upper"));
    add("rootfs.work", join(i.dir, "work"));
  }
  if (cfg.readOnly) add("rootfs.readonly", "1");
  if (cfg.noNewPrivileges) add("no_new_privs", "1");
  if (cfg.seccompUnconfined) add("seccomp", "unconfined");
  // parents before what is mounted inside them (as Podman sorts them): a -v on /etc
  // must not hide the /etc/hosts tspod mounts, whatever order they were listed in
  const depth = (d: string) => d.split("/").filter(Boolean).length;
  const ordered = cfg.mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.destination) - depth(b.m.destination) || a.i - b.i);
  // a named volume (not nocopy): its directory, where the runtime marks its first use done
  // (native/container.c copy_up: an empty one gets the image's content at the mount point)
  const copyUp = (m: MountSpec) => (m.volume && !m.options.includes("nocopy") ? [dirname(m.source)] : []);
  for (const { m } of ordered) add("mount", [m.type, m.source, m.destination, m.options.join(","), ...copyUp(m)].join("\t"));
  for (const p of MASKED_PATHS) add("masked", p);
  for (const p of READONLY_PATHS) add("readonly", p);
  for (const c of cfg.caps ?? DEFAULT_CAPS) add("cap", c);
  // --cap-add for a user other than root: ambient (and so effective), as Podman
  // gives them; root has the whole set effective (native/container.c)
  if (i.user.uid !== 0) for (const c of cfg.capAdd ?? []) add("cap.ambient", c);
  const hard = hardLimits();
  for (const [k, v] of Object.entries(hard)) {
    const want = k === "RLIMIT_NOFILE" ? Math.min(v, 1048576) : Math.min(v, 4194304);
    add("rlimit", `${k}:${want}:${want}`);
  }
  if (cfg.init) add("init", "builtin");
  for (const p of i.cgroupProcs) add("cgroup", p);
  if (cfg.tty) add("tty", "1");
  return new TextEncoder().encode(recs.map((r) => r + "\0").join(""));
}
