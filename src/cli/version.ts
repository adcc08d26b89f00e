import { BaseCommand } from "./base.ts";
import { Flags } from "@oclif/core";
import pjson from "../../package.json" with { type: "json" };
import { formatOutput } from "./format.ts";

export default class Version extends BaseCommand {
  static override description = "Show tspod's version and what it was built with";
  static override flags = {
    format: Flags.string({ char: "f", description: "json or a Go template like '{{.Version}}'" }),
  };

  async run(): Promise<void> {
    const { flags } = await this.setup(Version);
    const v = {
      Version: pjson.version,
      Bun: Bun.version,
      OsArch: `${process.platform}/${process.arch === "x64" ? "amd64" : process.arch}`,
    };
    if (flags.format) return this.out(formatOutput(v, flags.format));
    this.out(`Version:      ${v.Version}\nBun:          ${v.Bun}\nOS/Arch:      ${v.OsArch}`);
  }
}
