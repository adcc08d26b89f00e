// tspod stats: CPU, memory, network, block I/O and PIDs of running containers,
// from /proc (src/container/stats.ts): on hosts where Podman's stats fails for
// want of cgroups (rootless on cgroup v1) too.
import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { alignColumns, formatList } from "./format.ts";
import { TspodError, UsageError } from "../errors.ts";
import { CLEAR_SCREEN, isTerminal, stdoutGone, writeOut } from "../output.ts";
import type { Container } from "../container/record.ts";
import type { Sample } from "../container/stats.ts";
import { scaledSize } from "../units.ts";

const HEADERS: Record<string, string> = {
  ID: "ID", ContainerID: "ID", Name: "NAME", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT", MemUsageBytes: "MEM USAGE / LIMIT", MemPerc: "MEM %",
  NetIO: "NET IO", BlockIO: "BLOCK IO", PIDS: "PIDS", PIDs: "PIDS", UpTime: "CPU TIME", Up: "CPU TIME", AVGCPU: "AVG CPU %",
};
const COLUMNS = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDS", "UpTime", "AVGCPU"] as const;

export default class Stats extends BaseCommand {
  static override description = "Show the resource use of running containers (CPU, memory, network, block I/O, PIDs), read from /proc: no cgroups needed. On a terminal, a live view: arrows select and sort, q quits";
  static override aliases = ["container:stats"];
  static override strict = false;
  static override args = { container: Args.string({ required: false }) };
  static override examples = ["tspod stats", "tspod stats --no-stream web", "tspod stats --no-stream --format '{{.Name}} {{.CPUPerc}} {{.MemUsage}}'"];
  static override flags = {
    all: Flags.boolean({ char: "a", description: "every container, not only running ones (those show zeros)" }),
    "no-stream": Flags.boolean({ description: "one report, then exit (CPU %: the average since each started)" }),
    format: Flags.string({ description: "json or a Go template like '{{.Name}} {{.CPUPerc}}'" }),
    interval: Flags.integer({ char: "i", min: 1, description: "seconds between reports (default 5)" }),
    "no-trunc": Flags.boolean({ description: "full container IDs" }),
    "no-reset": Flags.boolean({ description: "on a terminal, print each report below the last instead of redrawing" }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.setup(Stats);
    const { ContainerStore, isUp } = await import("../container/record.ts");
    const { sample, pidsByNamespace } = await import("../container/stats.ts");
    const store = new ContainerStore(this.context);
    const names = [...new Set(argv as string[])];
    if (names.length && flags.all) throw new UsageError("--all and container names cannot be given together");
    // named ones must be there and running (as Podman) at the start; later, one
    // that stopped or went is left out; -a: every one; else the running ones, as they come and go
    const pick = (first: boolean): Container[] => {
      if (!names.length) return store.list().filter((c) => flags.all || isUp(c));
      const out: Container[] = [];
      for (const n of names) {
        const c = first ? store.lookup(n) : store.find(n);
        if (c && !isUp(c) && first && !flags.all) throw new TspodError(`cannot get the stats of ${n}: the container is not running`);
        if (c && (isUp(c) || flags.all) && !out.some((o) => o.config.id === c.config.id)) out.push(c);
      }
      return out;
    };
    // the host's network (--network host, or joined to a container that has it): its counters are not the container's
    const hostNet = (c: Container): boolean => {
      if (c.config.network === "host") return true;
      if (!c.config.network.startsWith("container:")) return false;
      return store.load(c.config.network.slice(10))?.config.network === "host";
    };
    const prev = new Map<string, Sample>();
    const zero = (): Sample => ({ at: performance.now(), cpuSec: 0, mem: 0, memLimit: 0, pids: 0, netRx: 0, netTx: 0, blkRead: 0, blkWrite: 0, upSec: 1 });
    const report = (first: boolean): StatsRow[] => {
      const list = pick(first);
      const byNs = pidsByNamespace();
      return list.map((c) => {
        const s = isUp(c) ? sample(c, byNs, hostNet(c)) : zero();
        const row = statsRow(c, s, prev.get(c.config.id));
        prev.set(c.config.id, s);
        return flags["no-trunc"] ? { ...row, ID: c.config.id } : row;
      });
    };
    const render = (rows: StatsRow[]): string => {
      if (flags.format === "json") return JSON.stringify(rows.map(statsJson), null, 1) + "\n";
      if (flags.format) return formatList(rows, flags.format, HEADERS);
      return alignColumns([COLUMNS.map((k) => HEADERS[k]).join("\t"), ...rows.map((r) => COLUMNS.map((k) => String(r[k])).join("\t"))]);
    };
    if (flags["no-stream"]) return void writeOut(render(report(true)));
    // streaming: a terminal is redrawn (unless --no-reset), anything else gets one report after another
    const redraw = isTerminal(1) && !flags["no-reset"];
    const every = (flags.interval ?? 5) * 1000;
    // a terminal both ways, the table as it is: the live view (sort, select, q to quit)
    if (redraw && !flags.format && isTerminal(0)) {
      const initial = report(true);
      const { loadView } = await import("../tui/load.ts");
      const { statsView } = await loadView(() => import("../tui/stats.tsx"));
      const code = await statsView({ initial, report: () => report(false), every, named: names.length > 0 });
      if (code) this.exit(code);
      return;
    }
    for (let first = true; ; first = false) {
      const rows = report(first);
      // the named containers all stopped or gone: nothing more to report
      if (names.length && !first && !rows.length) return;
      writeOut((redraw ? CLEAR_SCREEN : "") + render(rows));
      if (stdoutGone()) return; // its reader went away (stats | head -3)
      await Bun.sleep(every);
    }
  }
}

/** Podman's stats sizes: 4 significant digits, decimal ("1.069MB"), or binary for MemUsageBytes ("1.5MiB"). */
const size = (n: number) => scaledSize(n, { digits: 4 });
const iec = (n: number) => scaledSize(n, { digits: 4, binary: true });

/** A duration as Go prints it ("1.5s", "350ms", "2m3s", "0s"). */
function goDuration(sec: number): string {
  if (sec <= 0) return "0s";
  if (sec < 1e-3) return `${Math.round(sec * 1e6)}µs`;
  if (sec < 1) return `${Number((sec * 1e3).toPrecision(6))}ms`;
  if (sec < 60) return `${Number(sec.toPrecision(6))}s`;
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  return `${h ? `${h}h` : ""}${m}m${Number(s.toFixed(3))}s`;
}

const pct = (x: number) => `${x.toFixed(2)}%`;

/**
 * One row with Podman's template fields (its stats report type): strings
 * CPUPerc, AVGCPU, MemUsage ("used / limit"), MemUsageBytes (the same, binary
 * units), MemPerc, NetIO, BlockIO, PIDS, Up; numbers CPU (percent), AvgCPU,
 * CPUNano, MemLimit, NetInput, NetOutput, BlockInput, BlockOutput, PIDs;
 * UpTime, as Podman's, the CPU time (its CPU TIME column). CPU %: over the
 * interval since prev, else the average since start (as Podman's first report).
 */
function statsRow(c: Container, now: Sample, prev?: Sample) {
  const avg = (100 * now.cpuSec) / now.upSec;
  const cpu = prev && now.at > prev.at ? (100 * Math.max(0, now.cpuSec - prev.cpuSec)) / ((now.at - prev.at) / 1000) : avg;
  const memPerc = now.memLimit ? (100 * now.mem) / now.memLimit : 0;
  return {
    ID: c.config.id.slice(0, 12),
    ContainerID: c.config.id,
    Name: c.config.name,
    CPUPerc: pct(cpu),
    CPU: cpu,
    AVGCPU: pct(avg),
    AvgCPU: avg,
    CPUNano: Math.round(now.cpuSec * 1e9),
    UpTime: goDuration(now.cpuSec),
    Up: goDuration(now.cpuSec),
    MemUsage: `${size(now.mem)} / ${size(now.memLimit)}`,
    MemUsageBytes: `${iec(now.mem)} / ${iec(now.memLimit)}`,
    MemLimit: now.memLimit,
    MemPerc: pct(memPerc),
    NetIO: `${size(now.netRx)} / ${size(now.netTx)}`,
    NetInput: now.netRx,
    NetOutput: now.netTx,
    BlockIO: `${size(now.blkRead)} / ${size(now.blkWrite)}`,
    BlockInput: now.blkRead,
    BlockOutput: now.blkWrite,
    PIDS: String(now.pids),
    PIDs: now.pids,
    /** resident bytes, as a number (tspod's) */
    MemBytes: now.mem,
  };
}

type StatsRow = ReturnType<typeof statsRow>;

/** Podman's JSON shape for stats --format json. */
function statsJson(r: StatsRow) {
  return { id: r.ID, name: r.Name, cpu_time: r.UpTime, cpu_percent: r.CPUPerc, avg_cpu: r.AVGCPU, mem_usage: r.MemUsage, mem_percent: r.MemPerc, net_io: r.NetIO, block_io: r.BlockIO, pids: r.PIDS };
}
