import { Args } from "@oclif/core";
import { BaseCommand } from "./base.ts";

export default class ImageExists extends BaseCommand {
  static override description = "Exit 0 if the image exists in local storage, 1 if not";
  static override args = { image: Args.string({ required: true, description: "image name or ID" }) };

  async run(): Promise<void> {
    const { args } = await this.setup(ImageExists);
    const { Images } = await import("../image/images.ts");
    if (!new Images(this.context).exists(args.image)) this.exit(1);
  }
}
