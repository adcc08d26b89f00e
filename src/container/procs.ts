// Processes as seen from the container: ids translated into its namespaces
// (NSpid, and uids through /proc/PID/status), times from /proc/PID/stat.
import { readFileSync } from "node:fs";

const CLK = 100; // USER_HZ on Linux

function fmtDuration(sec: number): string {
  const s = Math.floor(sec % 60), m = Math.floor((sec / 60) % 60), h = Math.floor(sec / 3600);
  return h ? `${h}h${m}m${s}s` : m ? `${m}m${s}s` : `${s}s`;
}

function fmtCpuTime(sec: number): string {
  const h = Math.floor(sec / 3600), m = Math.floor((sec / 60) % 60), s = Math.floor(sec % 60);
  return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
}

export interface ProcRow {
  user: string;
  pid: string;
  ppid: string;
  cpu: string;
  elapsed: string;
  tty: string;
  time: string;
  command: string;
  /** the program's name (/proc/PID/comm) */
  comm: string;
  /** pid and uid on the host */
  hpid: string;
  huser: string;
  state: string;
}

export function processRows(pids: number[]): ProcRow[] {
  let uptime = 0;
  try {
    uptime = Number(readFileSync("/proc/uptime", "utf8").split(" ")[0]);
  } catch {}
  const out: ProcRow[] = [];
  const nsPid = new Map<number, string>();
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const ns = /^NSpid:\s+(.*)$/m.exec(status)?.[1].trim().split(/\s+/);
      nsPid.set(pid, ns ? ns[ns.length - 1] : String(pid));
    } catch {}
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(rest[1]);
      const utime = Number(rest[11]), stime = Number(rest[12]);
      const start = Number(rest[19]) / CLK;
      const elapsed = Math.max(0, uptime - start);
      const cpuSec = (utime + stime) / CLK;
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      // the uid inside the container's user namespace: /proc/PID/status shows host ids, uid_map translates
      const hostUid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      let user = String(hostUid);
      try {
        for (const line of readFileSync(`/proc/${pid}/uid_map`, "utf8").trim().split("\n")) {
          const [inside, outside, count] = line.trim().split(/\s+/).map(Number);
          if (hostUid >= outside && hostUid < outside + count) user = String(inside + hostUid - outside);
        }
      } catch {}
      if (user === "0") user = "root";
      const tty = Number(rest[4]) ? `pts/${Number(rest[4]) & 0xff}` : "?";
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
      out.push({
        user,
        pid: nsPid.get(pid) ?? String(pid),
        ppid: nsPid.get(ppid) ?? "0",
        cpu: (elapsed > 0 ? (100 * cpuSec) / elapsed : 0).toFixed(3),
        elapsed: fmtDuration(elapsed),
        tty,
        time: fmtCpuTime(cpuSec),
        command: cmd,
        comm: readFileSync(`/proc/${pid}/comm`, "utf8").trim(),
        hpid: String(pid),
        huser: String(hostUid),
        state: rest[0],
      });
    } catch {}
  }
  return out;
}

/** ps descriptors `top` takes, as Podman's: descriptor -> [header, value]. */
export const TOP_DESCRIPTORS: Record<string, [string, (r: ProcRow) => string]> = {
  user: ["USER", (r) => r.user],
  pid: ["PID", (r) => r.pid],
  ppid: ["PPID", (r) => r.ppid],
  pcpu: ["%CPU", (r) => r.cpu],
  etime: ["ELAPSED", (r) => r.elapsed],
  tty: ["TTY", (r) => r.tty],
  time: ["TIME", (r) => r.time],
  args: ["COMMAND", (r) => r.command],
  comm: ["COMMAND", (r) => r.comm],
  state: ["STATE", (r) => r.state],
  hpid: ["HPID", (r) => r.hpid],
  huser: ["HUSER", (r) => r.huser],
};
export const TOP_DEFAULT = ["user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args"];
