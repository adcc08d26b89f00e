import { Args } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { createFlags, createOptions } from "./create-flags.ts";

export default class Create extends BaseCommand {
  static override description = "Create a container without starting it";
  static override aliases = ["container:create"];
  static override strict = false;
  static stopAtPositional = true;
  static override args = { image: Args.string({ required: true, description: "image" }), command: Args.string({ required: false, description: "command and arguments" }) };
  static override flags = { ...createFlags };

  async run(): Promise<void> {
    const { flags, argv } = await this.setup(Create);
    const { createContainer } = await import("../container/create.ts");
    const { makeProgress } = await import("./progress.ts");
    const opts = createOptions(flags, argv as string[]);
    const progress = makeProgress(opts.quietPull);
    opts.onPullEvent = (e) => progress.event(e);
    const { id } = await createContainer(this.context, opts);
    progress.end();
    this.out(id);
  }
}
