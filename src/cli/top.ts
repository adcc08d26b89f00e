import { Args } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { alignColumns } from "./format.ts";
import { TspodError } from "../errors.ts";
import { writeOut } from "../output.ts";

/** ps(1) field names that are another descriptor here */
const PS_ALIASES: Record<string, string> = { "%cpu": "pcpu", cmd: "args", command: "args", ucomm: "comm", stat: "state", s: "state", euser: "user", uname: "user" };

export default class Top extends BaseCommand {
  static override description = "Show the processes of a container (read from /proc)";
  static override aliases = ["container:top"];
  static override strict = false;
  static override args = { container: Args.string({ required: true }), descriptors: Args.string({ required: false, description: "ps descriptors: user pid ppid pcpu etime tty time args comm state hpid huser (or one comma-separated list)" }) };
  static override examples = ["tspod top web", "tspod top web pid args", "tspod top web pid,hpid,huser,comm", "tspod top web -eo pid,comm"];

  async run(): Promise<void> {
    // ps(1) options as Podman passes them on (top CTR -eo pid,comm; -ef; -o args):
    // the -o list is the descriptors; -e, -f, -a, -x (every process) are what top shows anyway
    let psList: string[] | undefined;
    const raw = [...this.argv];
    const first = raw.findIndex((a) => !a.startsWith("-"));
    for (let i = first + 1; first >= 0 && i < raw.length; ) {
      const a = raw[i]!;
      if (/^-[a-zA-Z]+$/.test(a)) {
        if (a.includes("o")) {
          psList = (raw[i + 1] ?? "").split(",").filter(Boolean).map((d) => PS_ALIASES[d] ?? d);
          raw.splice(i, 2);
        } else raw.splice(i, 1);
      } else i++;
    }
    this.argv = raw;
    const { argv } = await this.setup(Top);
    const [name, ...given] = argv as string[];
    const rest = psList ?? given;
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
