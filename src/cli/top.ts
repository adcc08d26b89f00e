import { Args } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { alignColumns } from "./format.ts";
import { TspodError } from "../errors.ts";
import { writeOut } from "../output.ts";

export default class Top extends BaseCommand {
  static override description = "Show the processes of a container (read from /proc)";
  static override aliases = ["container:top"];
  static override strict = false;
  static override args = { container: Args.string({ required: true }), descriptors: Args.string({ required: false, description: "ps descriptors: user pid ppid pcpu etime tty time args comm state hpid huser (or one comma-separated list)" }) };
  static override examples = ["tspod top web", "tspod top web pid args", "tspod top web pid,hpid,huser,comm"];

  async run(): Promise<void> {
    const { argv } = await this.setup(Top);
    const [name, ...rest] = argv as string[];
    const { ContainerStore } = await import("../container/record.ts");
    const { containerPids } = await import("../container/lifecycle.ts");
    const { processRows, TOP_DESCRIPTORS, TOP_DEFAULT } = await import("../container/procs.ts");
    const wanted = rest.length ? rest.flatMap((d) => d.split(",")).filter(Boolean) : TOP_DEFAULT;
    const bad = wanted.find((d) => !TOP_DESCRIPTORS[d]);
    if (bad) throw new TspodError(`unknown descriptor: ${bad} (known: ${Object.keys(TOP_DESCRIPTORS).join(", ")})`);
    const c = new ContainerStore(this.context).lookup(name);
    if (c.state.status !== "running" && c.state.status !== "paused") throw new TspodError(`top can only be used on running containers: container state improper`);
    const rows = processRows(containerPids(c.state.pid));
    const cols = wanted.map((d) => TOP_DESCRIPTORS[d]);
    writeOut(alignColumns([cols.map(([h]) => h).join("\t"), ...rows.map((r) => cols.map(([, f]) => f(r)).join("\t"))]));
  }
}
