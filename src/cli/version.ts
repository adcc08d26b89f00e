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
    const os = process.platform;
    const client = {
      Version: pjson.version,
      Bun: Bun.version,
      OsArch: `${os}/${process.arch === "x64" ? "amd64" : process.arch}`,
      Os: os,
    };
    // Podman's shape ({{.Client.Version}} in scripts); the fields at the top stay for {{.Version}}
    const v = { ...client, Client: client };
    if (flags.format === "json") return this.out(formatOutput({ Client: client }, "json"));
    if (flags.format) return this.out(formatOutput(v, flags.format));
    this.out(`Version:      ${v.Version}\nBun:          ${v.Bun}\nOS/Arch:      ${v.OsArch}`);
  }
}
