import { Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";

export default class ImagePrune extends BaseCommand {
  static override description = "Remove dangling images (with -a, every image no container uses)";
  static override flags = {
    all: Flags.boolean({ char: "a", description: "remove all unused images, not just dangling ones" }),
    force: Flags.boolean({ char: "f", description: "do not ask (tspod never asks; accepted for compatibility)" }),
  };

  async run(): Promise<void> {
    const { flags } = await this.setup(ImagePrune);
    const { Images } = await import("../image/images.ts");
    const { imageUsers } = await import("../image/users.ts");
    const removed = new Images(this.context, imageUsers(this.context)).prune(flags.all);
    for (const id of removed) this.out(id);
  }
}
