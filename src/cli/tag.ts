import { Args } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { UsageError } from "../errors.ts";

export default class Tag extends BaseCommand {
  static override description = "Add names to a local image";
  static override aliases = ["image:tag"];
  static override strict = false;
  static override args = { image: Args.string({ required: true, description: "image name or ID" }), name: Args.string({ required: false, description: "new name(s)" }) };

  async run(): Promise<void> {
    const { argv } = await this.setup(Tag);
    const [image, ...names] = argv as string[];
    if (!names.length) throw new UsageError("tag: at least one new name is required");
    const { Images } = await import("../image/images.ts");
    new Images(this.context).tag(image, names);
  }
}
