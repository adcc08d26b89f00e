import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { checkFormat, renderTemplate, withGoTimes } from "./format.ts";
import { nilMap, nilSlice } from "../gonil.ts";

/** The fields of an image's config (OCI image-spec ImageConfig) and their empty values (Go's nil: {{json}} gives null). */
const configFields = () => ({ User: "", ExposedPorts: nilMap(), Env: nilSlice(), Entrypoint: nilSlice(), Cmd: nilSlice(), Volumes: nilMap(), WorkingDir: "", Labels: nilMap(), StopSignal: "" });

export default class ImageInspect extends BaseCommand {
  static override description = "Show details of images as JSON (Podman's shape)";
  static override strict = false;
  static override args = { image: Args.string({ required: true, description: "image name or ID" }) };
  static override flags = { format: Flags.string({ char: "f", description: "json or a Go template" }) };

  async run(): Promise<void> {
    const { flags, argv } = await this.setup(ImageInspect);
    const { Images } = await import("../image/images.ts");
    const images = new Images(this.context);
    const out: unknown[] = [];
    const errors: string[] = [];
    for (const name of argv as string[]) {
      try {
        out.push(images.inspect(images.lookup(name)));
      } catch (e: any) {
        errors.push(e.message);
      }
    }
    if (flags.format && flags.format !== "json") {
      checkFormat(flags.format);
      // Podman's Config is a struct: a template sees every field, empty ones too ({{.Config.ExposedPorts}} is map[])
      const withConfig = (o: any) => withGoTimes({ ...o, Config: { ...configFields(), ...(o.Config ?? {}) } });
      const text = out.map((o) => renderTemplate(flags.format!, withConfig(o)));
      for (const t of text) this.out(t);
    }
    else this.out(JSON.stringify(out, null, 4));
    if (errors.length) {
      const { TspodError } = await import("../errors.ts");
      throw new TspodError(errors.join("; "));
    }
  }
}
