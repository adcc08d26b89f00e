import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { renderTemplate } from "./format.ts";
import { TspodError } from "../errors.ts";

export default class Inspect extends BaseCommand {
  static override description = "Show details of containers or images as JSON";
  static override aliases = ["container:inspect"];
  static override strict = false;
  static override args = { name: Args.string({ required: true, description: "container or image" }) };
  static override flags = {
    format: Flags.string({ char: "f", description: "json or a Go template" }),
    type: Flags.string({ char: "t", description: "container, image or all", options: ["container", "image", "all"], default: "all" }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.setup(Inspect);
    const { ContainerStore } = await import("../container/record.ts");
    const { inspectContainer } = await import("../container/inspect.ts");
    const { Images } = await import("../image/images.ts");
    const store = new ContainerStore(this.context);
    const images = new Images(this.context);
    const out: unknown[] = [];
    const errors: string[] = [];
    for (const n of argv as string[]) {
      const c = flags.type !== "image" ? store.find(n) : undefined;
      if (c) {
        out.push(inspectContainer(this.context, c));
        continue;
      }
      const i = flags.type !== "container" ? images.find(n) : undefined;
      if (i) out.push(images.inspect(i));
      else errors.push(`no such object: "${n}"`);
    }
    if (flags.format && flags.format !== "json") {
      const text = out.map((o) => renderTemplate(flags.format!, o)); // all or nothing
      for (const t of text) this.out(t);
    }
    else this.out(JSON.stringify(out, null, 4));
    if (errors.length) throw new TspodError(errors.join("; "));
  }
}
