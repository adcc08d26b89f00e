// Resource use of running containers, read from /proc: every process in the
// container's pid namespace, so it works where cgroups do not (rootless on
// cgroup v1, where `podman stats` fails).
//  - CPU: utime+stime of each process, and cutime+cstime (the time of the
//    children it has reaped): what the container's processes ever used, but
//    for exec'd ones that have ended (their parent is outside).
//  - memory: the proportional set size (Pss: a page shared by n processes
//    counts 1/n to each), so shared libraries and fork's copy-on-write pages
//    count once; not the page cache a cgroup would count too.
//  - PIDs: threads; network: the container's namespace, loopback left out;
//    block I/O: /proc/PID/io, which rootless can read only for processes of
//    the container's root (others count 0).
import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { totalmem } from "node:os";
import type { Container } from "./record.ts";

const CLK = 100; // USER_HZ, 100 on every Linux architecture

export interface Sample {
  /** monotonic ms when taken */
  at: number;
  /** CPU seconds used by the processes there now */
  cpuSec: number;
  /** resident bytes */
  mem: number;
  memLimit: number;
  pids: number;
  netRx: number;
  netTx: number;
  blkRead: number;
  blkWrite: number;
  /** seconds since the container started */
  upSec: number;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The network's counters: every interface but loopback. */
function netCounters(pid: number): { rx: number; tx: number } | undefined {
  const dev = read(`/proc/${pid}/net/dev`);
  if (!dev) return undefined;
  let rx = 0, tx = 0;
  for (const line of dev.split("\n").slice(2)) {
    const m = /^\s*([^:]+):\s*(.*)$/.exec(line);
    if (!m || m[1] === "lo") continue;
    const f = m[2].trim().split(/\s+/).map(Number);
    rx += f[0] ?? 0;
    tx += f[8] ?? 0;
  }
  return { rx, tx };
}

/** Every process by pid namespace (one pass over /proc for all the containers of a report). */
export function pidsByNamespace(): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const n of readdirSync("/proc")) {
    if (!/^\d+$/.test(n)) continue;
    try {
      const ns = readlinkSync(`/proc/${n}/ns/pid`);
      out.set(ns, [...(out.get(ns) ?? []), Number(n)]);
    } catch {}
  }
  return out;
}

/**
 * One sample of a running container. byNs: pidsByNamespace(); hostNet: its
 * network is the host's (--network host, or joined to a container that has
 * it): the host's counters are not the container's, none are shown.
 */
export function sample(c: Container, byNs: Map<string, number[]>, hostNet: boolean): Sample {
  let cpuTicks = 0, memKb = 0, threads = 0, blkRead = 0, blkWrite = 0;
  let ns: string | undefined;
  try {
    ns = readlinkSync(`/proc/${c.state.pid}/ns/pid`);
  } catch {}
  const pids = ns ? (byNs.get(ns) ?? []) : [];
  for (const pid of pids) {
    const stat = read(`/proc/${pid}/stat`);
    if (!stat) continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    cpuTicks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    threads += Number(f[17]);
    const roll = read(`/proc/${pid}/smaps_rollup`);
    const pss = roll && /^Pss:\s*(\d+) kB/m.exec(roll);
    memKb += pss ? Number(pss[1]) : Number(/^VmRSS:\s*(\d+) kB/m.exec(read(`/proc/${pid}/status`) ?? "")?.[1] ?? 0);
    const io = read(`/proc/${pid}/io`);
    if (io) {
      blkRead += Number(/^read_bytes:\s*(\d+)/m.exec(io)?.[1] ?? 0);
      blkWrite += Number(/^write_bytes:\s*(\d+)/m.exec(io)?.[1] ?? 0);
    }
  }
  const net = pids.length && !hostNet ? netCounters(c.state.pid) : undefined;
  const started = c.state.startedAt ? Date.parse(c.state.startedAt) : Date.now();
  return {
    at: performance.now(),
    cpuSec: cpuTicks / CLK,
    mem: memKb * 1024,
    memLimit: c.config.resources.memory || totalmem(),
    pids: threads,
    netRx: net?.rx ?? 0,
    netTx: net?.tx ?? 0,
    blkRead,
    blkWrite,
    upSec: Math.max(0.001, (Date.now() - started) / 1000),
  };
}
