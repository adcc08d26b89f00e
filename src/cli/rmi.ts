import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { UsageError } from "../errors.ts";
import { writeErr } from "../output.ts";

export default class Rmi extends BaseCommand {
  static override description = "Remove images (a name with other names left only untags it)";
  static override aliases = ["image:rm"];
  static override strict = false;
  static override args = { image: Args.string({ description: "image name or ID", required: false }) };
  static override flags = {
    force: Flags.boolean({ char: "f", description: "remove the containers that use the image, and an image with several names by ID" }),
    all: Flags.boolean({ char: "a", description: "remove all images" }),
    ignore: Flags.boolean({ char: "i", description: "an image that is not there is no error" }),
    "no-prune": Flags.boolean({ description: "accepted, as Podman's: tspod keeps no untagged parent images to prune" }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.setup(Rmi);
    const { Images } = await import("../image/images.ts");
    const { imageUsers } = await import("../image/users.ts");
    const images = new Images(this.context, imageUsers(this.context));
    if (flags.all && argv.length) throw new UsageError("when using the --all switch, you may not pass any images names or IDs");
    const inputs = flags.all ? images.list().map((i) => i.id) : (argv as string[]);
    if (!inputs.length) {
      if (flags.all) return;
      throw new UsageError("image name or ID must be specified");
    }
    // -f: the containers using an image go first (killed if running), as with Podman's rmi --force
    const removeUsers = async (ids: string[]) => {
      const { Lifecycle } = await import("../container/lifecycle.ts");
      const lc = new Lifecycle(this.context);
      for (const id of ids) {
        const c = lc.store.find(id);
        if (c) await lc.remove(c, true);
      }
    };
    const r = await images.remove(inputs, flags.force || flags.all, flags.force ? removeUsers : undefined, flags.force || flags.all || flags.ignore);
    for (const u of r.untagged) this.out(`Untagged: ${u}`);
    for (const d of r.deleted) this.out(`Deleted: ${d}`);
    if (!r.errors.length) return;
    // every failure on its own line; the exit code is Podman's: 2 in use, else 1 unknown, else 125
    for (const e of r.errors.slice(0, -1)) writeErr(`Error: ${e.message}\n`);
    const last = r.errors[r.errors.length - 1];
    last.exitCode = r.errors.some((e) => e.exitCode === 2) ? 2 : r.errors.some((e) => e.exitCode === 1) ? 1 : 125;
    throw last;
  }
}
