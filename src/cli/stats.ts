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
  ID: "ID", Name: "NAME", CPUPerc: "CPU %", MemUsage: "MEM USAGE / LIMIT", MemPerc: "MEM %", NetIO: "NET IO", BlockIO: "BLOCK IO",
  PIDs: "PIDS", CPU: "CPU TIME", AVGCPU: "AVG CPU %", UpTime: "UPTIME",
};
const COLUMNS = ["ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs", "CPU", "AVGCPU"] as const;

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
    const { sample, statsRow, statsJson } = await import("../container/stats.ts");
    const store = new ContainerStore(this.context);
    const names = argv as string[];
    if (names.length && flags.all) throw new UsageError("--all and container names cannot be given together");
    const live = (c: Container) => c.state.status === "running" || c.state.status === "paused";
    // named ones must be running (as Podman); -a: every one; else the running ones, as they come and go
    const pick = (): Container[] => {
      if (!names.length) return store.list().filter((c) => flags.all || live(c));
      return names.map((n) => {
        const c = store.lookup(n);
        if (!live(c) && !flags.all) throw new TspodError(`cannot get the stats of ${n}: the container is not running`);
        return c;
      });
    };
    const prev = new Map<string, Sample>();
    const zero = (c: Container): Sample => ({ at: performance.now(), cpuSec: 0, mem: 0, memLimit: c.config.resources.memory || 1, pids: 0, netRx: 0, netTx: 0, blkRead: 0, blkWrite: 0, upSec: 1 });
    const report = (): StatsRow[] =>
      pick().map((c) => {
        const s = live(c) ? sample(c) : zero(c);
        const row = statsRow(c, s, prev.get(c.config.id));
        prev.set(c.config.id, s);
        return flags["no-trunc"] ? { ...row, ID: c.config.id } : row;
      });
    const render = (rows: StatsRow[]): string => {
      if (flags.format === "json") return JSON.stringify(rows.map(statsJson), null, 4) + "\n";
      if (flags.format) return formatList(rows, flags.format, HEADERS);
      return alignColumns([COLUMNS.map((k) => HEADERS[k]).join("\t"), ...rows.map((r) => COLUMNS.map((k) => String(r[k])).join("\t"))]);
    };
    if (flags["no-stream"]) return void writeOut(render(report()));
    // streaming: a terminal is redrawn (unless --no-reset), anything else gets one report after another
    const redraw = isTerminal(1) && !flags["no-reset"];
    const every = (flags.interval ?? 5) * 1000;
    for (;;) {
      const rows = report();
      writeOut((redraw ? "\x1b[2J\x1b[H" : "") + render(rows));
      // named containers all gone: nothing more to report
      if (names.length && !rows.length) return;
      await Bun.sleep(every);
      if (names.length && pick().every((c) => !live(c))) return;
    }
  }
}
