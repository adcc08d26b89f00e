// push: send a stored image to a registry (lean path and oclif share this).
import type { Context } from "../../context.ts";
import type { CommandImpl } from "../spec.ts";
import { TspodError, UsageError } from "../../errors.ts";
import { REGISTRY_FLAGS, registryCreds } from "../registry-flags.ts";

const impl: CommandImpl = {
  positionals: [1, 2],
  flags: {
    quiet: { type: "boolean", char: "q", description: "no progress output" },
    format: { type: "string", char: "f", description: "manifest type at the destination: oci or v2s2 (default: the image's own)" },
    digestfile: { type: "string", description: "write the pushed manifest's digest to this file" },
    ...REGISTRY_FLAGS,
    "remove-signatures": { type: "boolean", description: "accepted for Podman's scripts: tspod keeps no signatures, none are pushed" },
    "compression-format": { type: "string", description: "refused unless it is what the layers have: tspod pushes layers as stored, byte for byte" },
    "disable-content-trust": { type: "boolean", description: "accepted for Docker's scripts; does nothing" },
    "sign-by": { type: "string", description: "not supported: tspod does not sign images" },
  },
  async main(ctx: Context, flags, argv) {
    const [source, destination] = argv as string[];
    if (flags["sign-by"] !== undefined) throw new UsageError("--sign-by: tspod does not sign images");
    const format = flags.format;
    if (format !== undefined && format !== "oci" && format !== "v2s2") {
      throw new UsageError(format === "v2s1" ? "--format v2s1: Docker's schema 1 is deprecated and not written by tspod (use oci or v2s2)" : `--format ${format}: must be oci or v2s2`);
    }
    const [{ Pusher }, { makeProgress }] = await Promise.all([import("../../image/push.ts"), import("../progress.ts")]);
    const creds = await registryCreds(flags);
    const progress = makeProgress(flags.quiet);
    try {
      const pusher = new Pusher(ctx);
      if (flags["compression-format"] !== undefined) pusher.checkCompression(source!, flags["compression-format"]);
      const r = await pusher.push(source!, destination, {
        tlsVerify: flags["tls-verify"],
        creds,
        authFile: flags.authfile,
        certDir: flags["cert-dir"],
        format,
        onEvent: (e) => progress.event(e),
      });
      if (flags.digestfile) {
        const { writeFileAtomic } = await import("../../storage/atomic.ts");
        try {
          writeFileAtomic(flags.digestfile, r.digest, 0o644, false, false);
        } catch (e) {
          throw new TspodError(`writing the digest to ${flags.digestfile}: ${(e as Error).message}`);
        }
      }
    } finally {
      progress.end();
    }
  },
};
export default impl;
