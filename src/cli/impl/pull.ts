// pull: fetch an image from a registry (lean path and oclif share this).
import type { Context } from "../../context.ts";
import type { CommandImpl } from "../spec.ts";
import { out } from "../spec.ts";
import { TspodError, UsageError } from "../../errors.ts";
import { writeErr } from "../../output.ts";
import { REGISTRY_FLAGS, registryCreds } from "../registry-flags.ts";

const impl: CommandImpl = {
  positionals: [1, Infinity],
  flags: {
    quiet: { type: "boolean", char: "q", description: "print only the image ID" },
    platform: { type: "string", description: "os/arch[/variant] to pull from a multi-platform image" },
    os: { type: "string", description: "the operating system to pull (instead of the host's)" },
    arch: { type: "string", description: "the architecture to pull (instead of the host's)" },
    variant: { type: "string", description: "the architecture variant to pull (arm: v7, v8...)" },
    ...REGISTRY_FLAGS,
  },
  async main(ctx: Context, flags, argv) {
    const [{ Puller }, { makeProgress }, { isImageIdLike }] = await Promise.all([import("../../image/pull.ts"), import("../progress.ts"), import("../../image/reference.ts")]);
    const { trace } = await import("../../context.ts");
    trace("pull: modules loaded");
    let platform: string | undefined = flags.platform;
    if (flags.os || flags.arch || flags.variant) {
      if (platform) throw new UsageError("--platform cannot be given with --os, --arch or --variant");
      const { hostPlatform } = await import("../../image/manifest.ts");
      const host = hostPlatform();
      const variant = flags.variant ?? (flags.arch ? undefined : host.variant);
      platform = [flags.os ?? host.os, flags.arch ?? host.architecture, variant].filter(Boolean).join("/");
    }
    if (platform) (await import("../../image/manifest.ts")).parsePlatform(platform); // refused before anything is tried
    // docker:// is Podman's transport for a registry, the one tspod pulls from; the others are not
    const names = (argv as string[]).map((n) => {
      if (n.startsWith("docker://")) return n.slice("docker://".length);
      const t = /^(docker-archive|docker-daemon|oci|oci-archive|dir|containers-storage):/.exec(n)?.[1];
      if (t) throw new UsageError(`${n}: the ${t} transport is not supported: tspod pulls from registries (a name, or docker://NAME)`);
      // (the grammar reads it as repository "sha256" with a tag; as Podman, it is an image ID)
      if (isImageIdLike(n)) throw new TspodError(`${n} is an image ID: a pull needs a name (a digest goes after one: NAME@sha256:...)`);
      return n;
    });
    const creds = await registryCreds(flags);
    const progress = makeProgress(flags.quiet);
    try {
      // several images: one after another, as Podman pulls them; one that fails is
      // reported and the rest are still pulled (the last error is the exit's)
      const failed: TspodError[] = [];
      for (const name of names) {
        try {
          const r = await new Puller(ctx).pull(name, {
            platform,
            tlsVerify: flags["tls-verify"],
            creds,
            authFile: flags.authfile,
            certDir: flags["cert-dir"],
            onEvent: (e) => progress.event(e),
          });
          out(r.image.id);
        } catch (e) {
          if (names.length === 1 || !(e instanceof TspodError)) throw e;
          failed.push(e);
        }
      }
      for (const e of failed.slice(0, -1)) writeErr(`Error: ${e.message}\n`);
      if (failed.length) throw failed[failed.length - 1];
    } finally {
      progress.end();
    }
  },
};
export default impl;
