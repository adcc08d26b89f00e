import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { parseTime } from "./human.ts";

export default class Logs extends BaseCommand {
  static override description = "Show a container's output";
  static override aliases = ["container:logs"];
  static override args = { container: Args.string({ required: true }) };
  static override flags = {
    follow: Flags.boolean({ char: "f", description: "keep printing new output until the container exits" }),
    tail: Flags.integer({ char: "n", description: "only the last N lines (-1 for all)" }),
    since: Flags.string({ description: "only output since a time or duration (e.g. 10m)" }),
    until: Flags.string({ description: "only output before a time or duration" }),
    timestamps: Flags.boolean({ char: "t", description: "show timestamps" }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.setup(Logs);
    const { Lifecycle, readLog } = await import("../container/lifecycle.ts");
    const lc = new Lifecycle(this.context);
    const c = lc.store.lookup(args.container);
    const path = lc.logPath(c.config.id);
    const since = flags.since ? parseTime(flags.since, "--since") : undefined;
    const until = flags.until ? parseTime(flags.until, "--until") : undefined;
    const emit = (lines: ReturnType<typeof readLog>["lines"]) => {
      for (const l of lines) {
        if (since !== undefined || until !== undefined) {
          const t = Date.parse(l.time);
          if (since !== undefined && t < since) continue;
          if (until !== undefined && t > until) continue;
        }
        const text = (flags.timestamps ? `${l.time} ` : "") + l.text + (l.partial ? "" : "\n");
        (l.stream === "stderr" ? process.stderr : process.stdout).write(text);
      }
    };
    let { lines, offset } = readLog(path);
    if (flags.tail !== undefined && flags.tail >= 0) {
      // count lines from the end: a full record with the partial chunks before it,
      // or, at the very end, partial chunks of a line not finished (yet)
      let n = 0, i = lines.length;
      while (i > 0 && n < flags.tail) {
        i--;
        n++;
        while (i > 0 && lines[i - 1].partial) i--;
      }
      lines = flags.tail === 0 ? [] : lines.slice(i);
    }
    emit(lines);
    if (!flags.follow) return;
    (await import("../context.ts")).longRunning();
    for (;;) {
      const cur = lc.store.load(c.config.id);
      const running = cur && (cur.state.status === "running" || cur.state.status === "paused");
      const r = readLog(path, offset);
      emit(r.lines);
      offset = r.offset;
      if (!running) {
        emit(readLog(path, offset).lines);
        return;
      }
      await Bun.sleep(100);
    }
  }
}
