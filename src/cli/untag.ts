import { Args } from "@oclif/core";
import { BaseCommand } from "./base.ts";

export default class Untag extends BaseCommand {
  static override description = "Remove names from a local image (all names when none is given)";
  static override aliases = ["image:untag"];
  static override strict = false;
  static override args = { image: Args.string({ required: true, description: "image name or ID" }), name: Args.string({ required: false, description: "name(s) to remove" }) };

  async run(): Promise<void> {
    const { argv } = await this.setup(Untag);
    const [image, ...names] = argv as string[];
    const { Images } = await import("../image/images.ts");
    new Images(this.context).untag(image, names);
  }
}
