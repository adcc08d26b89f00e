import { Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { formatOutput } from "./format.ts";

export default class Info extends BaseCommand {
  static override description = "Show what tspod found on this host: ids, user namespaces, storage, network helpers, cgroups";
  static override examples = ["tspod info", "tspod info --format json", "tspod info --format '{{.Host.Rootless}}'"];
  static override flags = {
    format: Flags.string({ char: "f", description: "json or a Go template" }),
  };

  async run(): Promise<void> {
    const { flags } = await this.setup(Info);
    const { gatherInfo, renderInfo } = await import("../engine/info.ts");
    const info = gatherInfo(this.context);
    this.out(flags.format ? formatOutput(info, flags.format) : renderInfo(info));
  }
}
