// pull: fetch an image from a registry (lean path and oclif share this).
import type { Context } from "../../context.ts";
import type { CommandImpl } from "../spec.ts";
import { out } from "../spec.ts";

const impl: CommandImpl = {
  positionals: [1, 1],
  flags: {
    quiet: { type: "boolean", char: "q", description: "print only the image ID" },
    platform: { type: "string", description: "os/arch[/variant] to pull from a multi-platform image" },
    "tls-verify": { type: "boolean", allowNo: true, description: "require HTTPS and verify certificates (--tls-verify=false allows plain HTTP)" },
    creds: { type: "string", description: "USER[:PASSWORD] for the registry" },
  },
  async main(ctx: Context, flags, argv) {
    const [{ Puller }, { makeProgress }, { closeAgents }] = await Promise.all([import("../../image/pull.ts"), import("../progress.ts"), import("../../image/http.ts")]);
    const { trace } = await import("../../context.ts");
    trace("pull: modules loaded");
    const creds = flags.creds ? await (await import("../prompt.ts")).parseCreds(flags.creds) : undefined;
    const progress = makeProgress(flags.quiet);
    try {
      const r = await new Puller(ctx).pull(argv[0], {
        platform: flags.platform,
        tlsVerify: flags["tls-verify"],
        creds,
        onEvent: (e) => progress.event(e),
      });
      out(r.image.id);
    } finally {
      progress.end();
      await closeAgents();
    }
  },
};
export default impl;
