import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { TspodError, UsageError } from "../errors.ts";

export default class Port extends BaseCommand {
  static override description = "List a running container's published ports (or the host address of one port); nothing for one that does not run";
  static override aliases = ["container:port"];
  static override examples = ["tspod port web", "tspod port web 80/tcp", "tspod port --all"];
  static override args = {
    container: Args.string({ required: false, description: "container name or ID" }),
    port: Args.string({ required: false, description: "PORT[/PROTO]: print only where this container port is published" }),
  };
  static override flags = {
    all: Flags.boolean({ char: "a", description: "every running container's ports" }),
    latest: Flags.boolean({ char: "l", description: "the latest created container" }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.setup(Port);
    const { ContainerStore } = await import("../container/record.ts");
    const { portLines } = await import("../network/ports.ts");
    const store = new ContainerStore(this.context);
    // a pod member's ports are the pod's (its infra's)
    const portsOf = (c: ReturnType<typeof store.lookup>) => {
      const owner = c.config.network.startsWith("container:") ? store.find(c.config.network.slice(10)) : undefined;
      return portLines((owner ?? c).config.ports);
    };
    if (flags.all) {
      if (args.container) throw new UsageError("--all takes no container");
      for (const c of store.list().filter((c) => c.state.status === "running")) {
        for (const l of portsOf(c)) this.out(`${c.config.id.slice(0, 12)}\t${l.key} -> ${l.host}`);
      }
      return;
    }
    let c;
    if (flags.latest) c = store.list()[0];
    else if (args.container) c = store.lookup(args.container);
    if (!c) throw new UsageError("a container name or ID is required (or --all, --latest)");
    // as Podman: a container that does not run has no ports in use (inspect shows what it asks for)
    if (c.state.status !== "running") return;
    const lines = portsOf(c);
    if (args.port) {
      const want = args.port.includes("/") ? args.port : `${args.port}/tcp`;
      const hits = lines.filter((l) => l.key === want);
      if (!hits.length) throw new TspodError(`failed to find published port "${want}"`);
      for (const h of hits) this.out(h.host);
      return;
    }
    for (const l of lines) this.out(`${l.key} -> ${l.host}`);
  }
}
