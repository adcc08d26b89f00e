import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { TspodError } from "../errors.ts";

export default class Attach extends BaseCommand {
  static override description = "Attach to a running container's output (and input)";
  static override aliases = ["container:attach"];
  static override args = { container: Args.string({ required: true }) };
  static override flags = {
    "no-stdin": Flags.boolean({ description: "do not attach stdin" }),
    "detach-keys": Flags.string({ description: "keys to detach (default ctrl-p,ctrl-q)" }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.setup(Attach);
    const { ContainerStore } = await import("../container/record.ts");
    const { attachSession } = await import("./attach-session.ts");
    const { parseDetachKeys } = await import("./detach-keys.ts");
    const c = new ContainerStore(this.context).lookup(args.container);
    if (c.state.status !== "running") throw new TspodError(`you can only attach to running containers: container state improper`);
    const end = await attachSession({
      sock: new ContainerStore(this.context).sockPath(c.config.id),
      tty: c.config.tty,
      stdin: c.config.interactive && !flags["no-stdin"],
      start: false,
      detachKeys: parseDetachKeys(flags["detach-keys"]),
    });
    if (end.kind === "exit" && end.code !== 0) this.exit(end.code);
  }
}
