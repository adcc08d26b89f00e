// Resource use of running containers, read from /proc: every process in the
// container's pid namespace (containerPids), so it works where cgroups do not
// (rootless on cgroup v1, where `podman stats` fails). CPU from utime+stime,
// memory as the processes' resident set, PIDs as their threads, network from
// the container's network namespace (/proc/PID/net/dev, loopback left out),
// block I/O from /proc/PID/io (read_bytes, write_bytes).
import { readFileSync } from "node:fs";
import { totalmem } from "node:os";
import type { Container } from "./record.ts";
import { containerPids } from "./lifecycle.ts";

const CLK = 100; // USER_HZ
const PAGE = 4096;

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

/** The network's counters: every interface but loopback (none for --network host: the host's are not the container's). */
function netCounters(pid: number, network: string): { rx: number; tx: number } | undefined {
  if (network === "host") return undefined;
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

export function sample(c: Container): Sample {
  let cpuTicks = 0, rssPages = 0, threads = 0, blkRead = 0, blkWrite = 0;
  const pids = containerPids(c.state.pid);
  for (const pid of pids) {
    const stat = read(`/proc/${pid}/stat`);
    if (!stat) continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    cpuTicks += Number(f[11]) + Number(f[12]);
    threads += Number(f[17]);
    rssPages += Number(f[21]);
    const io = read(`/proc/${pid}/io`);
    if (io) {
      blkRead += Number(/^read_bytes:\s*(\d+)/m.exec(io)?.[1] ?? 0);
      blkWrite += Number(/^write_bytes:\s*(\d+)/m.exec(io)?.[1] ?? 0);
    }
  }
  const net = pids.length ? netCounters(c.state.pid, c.config.network) : undefined;
  const started = c.state.startedAt ? Date.parse(c.state.startedAt) : Date.now();
  return {
    at: performance.now(),
    cpuSec: cpuTicks / CLK,
    mem: rssPages * PAGE,
    memLimit: c.config.resources.memory || totalmem(),
    pids: threads,
    netRx: net?.rx ?? 0,
    netTx: net?.tx ?? 0,
    blkRead,
    blkWrite,
    upSec: Math.max(0.001, (Date.now() - started) / 1000),
  };
}

/** Decimal sizes with 4 significant digits, as Podman's stats prints them ("1.069MB"). */
function size(n: number): string {
  const u = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(4))}${u[i]}`;
}

/** A duration as Go prints it ("1.5s", "350ms", "2m3s"). */
function goDuration(sec: number): string {
  if (sec < 1e-3) return `${Math.round(sec * 1e6)}µs`;
  if (sec < 1) return `${Number((sec * 1e3).toPrecision(6))}ms`;
  if (sec < 60) return `${Number(sec.toPrecision(6))}s`;
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  return `${h ? `${h}h` : ""}${m}m${Number(s.toFixed(3))}s`;
}

const pct = (x: number) => `${x.toFixed(2)}%`;

/** One row, Podman's fields: CPU % over the interval since prev (else the average since start, as Podman's first report). */
export function statsRow(c: Container, now: Sample, prev?: Sample) {
  const avg = (100 * now.cpuSec) / now.upSec;
  const cpu = prev && now.at > prev.at ? (100 * Math.max(0, now.cpuSec - prev.cpuSec)) / ((now.at - prev.at) / 1000) : avg;
  return {
    ID: c.config.id.slice(0, 12),
    Id: c.config.id,
    Name: c.config.name,
    CPUPerc: pct(cpu),
    AVGCPU: pct(avg),
    CPU: goDuration(now.cpuSec),
    MemUsage: `${size(now.mem)} / ${size(now.memLimit)}`,
    MemUsageBytes: now.mem,
    MemLimitBytes: now.memLimit,
    MemPerc: pct((100 * now.mem) / now.memLimit),
    NetIO: `${size(now.netRx)} / ${size(now.netTx)}`,
    BlockIO: `${size(now.blkRead)} / ${size(now.blkWrite)}`,
    PIDs: now.pids,
    UpTime: goDuration(now.upSec),
  };
}

export type StatsRow = ReturnType<typeof statsRow>;

/** Podman's JSON shape for stats --format json. */
export function statsJson(r: StatsRow) {
  return { id: r.ID, name: r.Name, cpu_time: r.CPU, cpu_percent: r.CPUPerc, avg_cpu: r.AVGCPU, mem_usage: r.MemUsage, mem_percent: r.MemPerc, net_io: r.NetIO, block_io: r.BlockIO, pids: String(r.PIDs) };
}
