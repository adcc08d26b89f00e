import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { parseCreds, tlsVerifyFlag } from "./flags.ts";

export default class Pull extends BaseCommand {
  static override description = "Pull an image from a registry";
  static override examples = ["tspod pull busybox", "tspod pull --tls-verify=false 127.0.0.1:5000/busybox:latest", "tspod pull --platform linux/arm64 alpine"];
  static override args = { image: Args.string({ required: true, description: "image reference" }) };
  static override flags = {
    quiet: Flags.boolean({ char: "q", description: "print only the image ID" }),
    platform: Flags.string({ description: "os/arch[/variant] to pull from a multi-platform image" }),
    "tls-verify": tlsVerifyFlag,
    creds: Flags.string({ description: "USER[:PASSWORD] for the registry" }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.setup(Pull);
    const { Puller } = await import("../image/pull.ts");
    const { makeProgress } = await import("./progress.ts");
    const progress = makeProgress(flags.quiet);
    try {
      const r = await new Puller(this.context).pull(args.image, {
        platform: flags.platform,
        tlsVerify: flags["tls-verify"],
        creds: flags.creds ? await parseCreds(flags.creds) : undefined,
        onEvent: (e) => progress.event(e),
      });
      this.out(r.image.id);
    } finally {
      progress.end();
      const { closeAgents } = await import("../image/http.ts");
      await closeAgents();
    }
  }
}
