// tspod stats: CPU, memory, network, block I/O and PIDs of running containers,
// from /proc (src/container/stats.ts): on hosts where Podman's stats fails for
// want of cgroups (rootless on cgroup v1) too.
import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { alignColumns, formatList } from "./format.ts";
import { TspodError, UsageError } from "../errors.ts";
import { isTerminal, writeOut } from "../output.ts";
import type { Container } from "../container/record.ts";
import type { Sample, StatsRow } from "../container/stats.ts";

const HEADERS: Record<string, string> = {
  ID: "ID", ContainerID: "ID", Name: "NAME", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT", MemUsageBytes: "MEM USAGE / LIMIT", MemPerc: "MEM %",
  NetIO: "NET IO", BlockIO: "BLOCK IO", PIDS: "PIDS", PIDs: "PIDS", UpTime: "CPU TIME", Up: "CPU TIME", AVGCPU: "AVG CPU %",
};
const COLUMNS = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDS", "UpTime", "AVGCPU"] as const;

export default class Stats extends BaseCommand {
  static override description = "Show the resource use of running containers (CPU, memory, network, block I/O, PIDs), read from /proc: no cgroups needed";
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
    const { ContainerStore } = await import("../container/record.ts");
    const { sample, statsRow, statsJson, pidsByNamespace } = await import("../container/stats.ts");
    const store = new ContainerStore(this.context);
    const names = [...new Set(argv as string[])];
    if (names.length && flags.all) throw new UsageError("--all and container names cannot be given together");
    const live = (c: Container) => c.state.status === "running" || c.state.status === "paused";
    // named ones must be there and running (as Podman) at the start; later, one
    // that stopped or went is left out; -a: every one; else the running ones, as they come and go
    const pick = (first: boolean): Container[] => {
      if (!names.length) return store.list().filter((c) => flags.all || live(c));
      const out: Container[] = [];
      for (const n of names) {
        const c = first ? store.lookup(n) : store.find(n);
        if (c && !live(c) && first && !flags.all) throw new TspodError(`cannot get the stats of ${n}: the container is not running`);
        if (c && (live(c) || flags.all) && !out.some((o) => o.config.id === c.config.id)) out.push(c);
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
        const s = live(c) ? sample(c, byNs, hostNet(c)) : zero();
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
    for (let first = true; ; first = false) {
      const rows = report(first);
      // the named containers all stopped or gone: nothing more to report
      if (names.length && !first && !rows.length) return;
      writeOut((redraw ? "\x1b[2J\x1b[H" : "") + render(rows));
      await Bun.sleep(every);
    }
  }
}
