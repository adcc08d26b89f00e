import { Args } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { alignColumns } from "./format.ts";
import { TspodError } from "../errors.ts";
import { writeOut } from "../output.ts";

export default class Top extends BaseCommand {
  static override description = "Show the processes of a container (read from /proc)";
  static override aliases = ["container:top"];
  static override args = { container: Args.string({ required: true }) };

  async run(): Promise<void> {
    const { args } = await this.setup(Top);
    const { ContainerStore } = await import("../container/record.ts");
    const { containerPids } = await import("../container/lifecycle.ts");
    const { processRows } = await import("../container/procs.ts");
    const c = new ContainerStore(this.context).lookup(args.container);
    if (c.state.status !== "running" && c.state.status !== "paused") throw new TspodError(`top can only be used on running containers: container state improper`);
    const rows = processRows(containerPids(c.state.pid));
    writeOut(alignColumns(["USER\tPID\tPPID\t%CPU\tELAPSED\tTTY\tTIME\tCOMMAND", ...rows.map((r) => [r.user, r.pid, r.ppid, r.cpu, r.elapsed, r.tty, r.time, r.command].join("\t"))]));
  }
}
