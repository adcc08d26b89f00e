import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { alignColumns, formatList } from "./format.ts";
import { writeOut } from "../output.ts";
import { goTime } from "./human.ts";

export default class History extends BaseCommand {
  static override description = "Show the history of an image";
  static override aliases = ["image:history"];
  static override args = { image: Args.string({ required: true, description: "image name or ID" }) };
  static override flags = {
    quiet: Flags.boolean({ char: "q", description: "print only IDs" }),
    "no-trunc": Flags.boolean({ description: "do not truncate" }),
    human: Flags.boolean({ char: "H", description: "human sizes and dates (default true)", allowNo: true, default: true }),
    format: Flags.string({ description: "json or a Go template" }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.setup(History);
    const { Images, since, humanSize } = await import("../image/images.ts");
    const images = new Images(this.context);
    const rows = images.history(images.lookup(args.image));
    const trunc = (s: string, n: number) => (flags["no-trunc"] || s.length <= n ? s : s.slice(0, n - 3) + "...");
    if (flags.quiet) return this.out(rows.map((r) => (r.ID === "<missing>" || flags["no-trunc"] ? r.ID : r.ID.slice(0, 12))).join("\n"));
    // Podman's keys, its doubled created/Created included; an empty comment is left out
    if (flags.format === "json") return this.out(JSON.stringify(rows.map((r) => ({ id: r.ID, created: r.Created, CreatedBy: r.CreatedBy, size: r.Size, ...(r.Comment ? { comment: r.Comment } : {}), Created: r.Created })), null, 4));
    const view = rows.map((r) => ({
      ID: r.ID === "<missing>" || flags["no-trunc"] ? r.ID : r.ID.slice(0, 12),
      Created: flags.human ? since(r.Created) : r.Created,
      CreatedSince: since(r.Created),
      CreatedAt: goTime(r.Created),
      CreatedBy: trunc(r.CreatedBy, 45),
      Tags: [],
      Size: flags.human ? humanSize(r.Size) : String(r.Size),
      Comment: r.Comment,
    }));
    if (flags.format) return void writeOut(formatList(view, flags.format));
    writeOut(alignColumns(["ID\tCREATED\tCREATED BY\tSIZE\tCOMMENT", ...view.map((r) => [r.ID, r.Created, r.CreatedBy, r.Size, r.Comment].join("\t"))]));
  }
}
