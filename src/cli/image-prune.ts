import { Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { UsageError } from "../errors.ts";

export default class ImagePrune extends BaseCommand {
  static override description = "Remove dangling images (with -a, every image no container uses)";
  static override flags = {
    all: Flags.boolean({ char: "a", description: "remove all unused images, not just dangling ones" }),
    force: Flags.boolean({ char: "f", description: "do not ask (tspod never asks; accepted for compatibility)" }),
    filter: Flags.string({ multiple: true, description: "only images that match: until=TIME (created before), label=KEY[=VALUE], label!=KEY[=VALUE]" }),
  };

  async run(): Promise<void> {
    const { flags } = await this.setup(ImagePrune);
    const { Images } = await import("../image/images.ts");
    const { imageUsers } = await import("../image/users.ts");
    const { sharedImageFilter } = await import("./impl/images.ts");
    const images = new Images(this.context, imageUsers(this.context));
    // Podman's prune filters (those images --filter has too); all must match, checked before anything is removed
    const tests = ((flags.filter ?? []) as string[]).map((f) => {
      const eq = f.indexOf("=");
      const [k, v] = eq < 0 ? [f, ""] : [f.slice(0, eq), f.slice(eq + 1)];
      const t = sharedImageFilter(k, v, (i) => images.config(i)?.config?.Labels ?? {});
      if (!t) throw new UsageError(`unsupported image prune filter "${k}": use until, label or label!`);
      return t;
    });
    const removed = images.prune(flags.all, (i) => tests.every((t) => t(i)));
    for (const id of removed) this.out(id);
  }
}
