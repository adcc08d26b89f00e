import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { parseTime } from "./human.ts";
import type { LogLine } from "../container/record.ts";

/** One line as written: its partial chunks (a long line, or one not finished yet) and the record that ends it. */
type Unit = LogLine[];

/** Records grouped into lines; a line still being written at the end is a unit of its partial chunks. */
function units(lines: LogLine[]): Unit[] {
  const out: Unit[] = [];
  let cur: LogLine[] = [];
  for (const l of lines) {
    cur.push(l);
    if (!l.partial) {
      out.push(cur);
      cur = [];
    }
  }
  if (cur.length) out.push(cur);
  return out;
}

export default class Logs extends BaseCommand {
  static override description = "Show the output of one or more containers (several: each line starts with its container's ID, or name with --names)";
  static override aliases = ["container:logs"];
  static override strict = false;
  static override args = { container: Args.string({ required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: "f", description: "keep printing new output until the containers exit" }),
    tail: Flags.integer({ char: "n", description: "only the last N lines of each (-1 for all)" }),
    since: Flags.string({ description: "only output since a time or duration (e.g. 10m)" }),
    until: Flags.string({ description: "only output before a time or duration" }),
    timestamps: Flags.boolean({ char: "t", description: "show timestamps" }),
    names: Flags.boolean({ description: "with several containers, start each line with the container's name instead of its ID" }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.setup(Logs);
    const { Lifecycle, readLog } = await import("../container/lifecycle.ts");
    const lc = new Lifecycle(this.context);
    // every name must be there before anything is printed (as Podman)
    const list = (argv as string[]).map((n) => lc.store.lookup(n));
    const since = flags.since ? parseTime(flags.since, "--since") : undefined;
    const until = flags.until ? parseTime(flags.until, "--until") : undefined;
    const several = list.length > 1;
    const write = (prefix: string, u: Unit) => {
      const t = Date.parse(u[0]!.time);
      if (since !== undefined && t < since) return;
      if (until !== undefined && t > until) return;
      for (const l of u) {
        const text = prefix + (flags.timestamps ? `${l.time} ` : "") + l.text + (l.partial ? "" : "\n");
        (l.stream === "stderr" ? process.stderr : process.stdout).write(text);
      }
    };
    // what each container has written since the last read, as whole lines
    const sources = list.map((c) => ({ c, path: lc.logPath(c.config.id), offset: 0, prefix: several ? `${flags.names ? c.config.name : c.config.id.slice(0, 12)} ` : "" }));
    const readNew = () =>
      sources.flatMap((s) => {
        const r = readLog(s.path, s.offset);
        s.offset = r.offset;
        return units(r.lines).map((u) => ({ s, u }));
      });
    /** Several containers' lines in the order they were written. */
    const emit = (batch: { s: (typeof sources)[number]; u: Unit }[]) => {
      if (several) batch.sort((a, b) => Date.parse(a.u[0]!.time) - Date.parse(b.u[0]!.time));
      for (const { s, u } of batch) write(s.prefix, u);
    };
    let first = readNew();
    if (flags.tail !== undefined && flags.tail >= 0) {
      // the last N lines of each container
      const n = flags.tail;
      first = sources.flatMap((s) => {
        const mine = first.filter((x) => x.s === s);
        return n === 0 ? [] : mine.slice(-n);
      });
    }
    emit(first);
    if (!flags.follow) return;
    (await import("../context.ts")).longRunning();
    for (;;) {
      const running = sources.some((s) => {
        const cur = lc.store.load(s.c.config.id);
        return cur && (cur.state.status === "running" || cur.state.status === "paused");
      });
      emit(readNew());
      if (!running) {
        emit(readNew());
        return;
      }
      await Bun.sleep(100);
    }
  }
}
