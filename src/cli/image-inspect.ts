import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { renderTemplate } from "./format.ts";

export default class ImageInspect extends BaseCommand {
  static override description = "Show details of images as JSON (Podman's shape)";
  static override strict = false;
  static override args = { image: Args.string({ required: true, description: "image name or ID" }) };
  static override flags = { format: Flags.string({ char: "f", description: "json or a Go template" }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.setup(ImageInspect);
    const { Images } = await import("../image/images.ts");
    const images = new Images(this.context);
    const out: unknown[] = [];
    const errors: string[] = [];
    for (const name of argv as string[]) {
      try {
        out.push(images.inspect(images.lookup(name)));
      } catch (e: any) {
        errors.push(e.message);
      }
    }
    if (flags.format && flags.format !== "json") for (const o of out) this.out(renderTemplate(flags.format, o));
    else this.out(JSON.stringify(out, null, 4));
    if (errors.length) {
      const { TspodError } = await import("../errors.ts");
      throw new TspodError(errors.join("; "));
    }
  }
}
