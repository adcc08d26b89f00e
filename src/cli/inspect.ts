import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { renderTemplate, withGoTimes } from "./format.ts";
import { TspodError } from "../errors.ts";

export default class Inspect extends BaseCommand {
  static override description = "Show details of containers or images as JSON";
  static override strict = false;
  static override args = { name: Args.string({ required: true, description: "container or image" }) };
  static override flags = {
    format: Flags.string({ char: "f", description: "json or a Go template" }),
    type: Flags.string({ char: "t", description: "container, image or all", options: ["container", "image", "all"], default: "all" }),
    size: Flags.boolean({ char: "s", description: "containers: add SizeRw (the writable layer) and SizeRootFs (with the image), in bytes" }),
  };

  /** container inspect: containers only (an image of that name is "no such container", as Podman) */
  protected containersOnly = false;

  async run(): Promise<void> {
    const { flags, argv } = await this.setup(this.constructor as typeof Inspect);
    if (this.containersOnly) flags.type = "container";
    const { ContainerStore } = await import("../container/record.ts");
    const { inspectContainer } = await import("../container/inspect.ts");
    const { Images } = await import("../image/images.ts");
    const store = new ContainerStore(this.context);
    const images = new Images(this.context);
    const out: unknown[] = [];
    const errors: string[] = [];
    const found = (argv as string[]).map((n) => (flags.type !== "image" ? store.find(n) : undefined));
    // --size: every container's counted at once (one helper, as ps -s)
    const listed = found.filter((c) => c !== undefined);
    const sizes = flags.size && listed.length ? (await import("../container/size.ts")).containerSizes(this.context, listed) : undefined;
    for (const [k, n] of (argv as string[]).entries()) {
      const c = found[k];
      if (c) {
        const s = sizes?.get(c.config.id);
        out.push({ ...inspectContainer(this.context, c), ...(s ? { SizeRw: s.rwSize, SizeRootFs: s.rootFsSize } : {}) });
        continue;
      }
      const i = flags.type !== "container" ? images.find(n) : undefined;
      if (i) out.push(images.inspect(i));
      else errors.push(flags.type === "container" ? `no such container ${n}` : `no such object: "${n}"`);
    }
    if (flags.format && flags.format !== "json") {
      const text = out.map((o) => renderTemplate(flags.format!, withGoTimes(o as Record<string, any>))); // all or nothing
      for (const t of text) this.out(t);
    }
    else this.out(JSON.stringify(out, null, 4));
    if (errors.length) throw new TspodError(errors.join("; "));
  }
}

export class ContainerInspect extends Inspect {
  static override description = "Show details of containers as JSON";
  static override strict = false;
  static override args = { name: Args.string({ required: true, description: "container name or ID" }) };
  static override flags = Inspect.flags;
  protected override containersOnly = true;
}
