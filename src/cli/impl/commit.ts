// commit: a container's changes as a new image (oclif runs this; no lean path: it is not a hot command).
import type { Context } from "../../context.ts";
import { out, type CommandImpl } from "../spec.ts";
import { TspodError, UsageError } from "../../errors.ts";

const impl: CommandImpl = {
  positionals: [1, 2],
  flags: {
    author: { type: "string", char: "a", description: "the image's author (e.g. \"Name <email>\")" },
    message: { type: "string", char: "m", description: "commit message: the new history entry's comment (and the config's, in Docker's format)" },
    change: {
      type: "string",
      char: "c",
      multiple: true,
      description: "apply a Containerfile instruction to the image's config: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR",
    },
    pause: { type: "boolean", char: "p", description: "pause a running container while its changes are read" },
    quiet: { type: "boolean", char: "q", description: "no progress output, only the image ID" },
    format: { type: "string", char: "f", description: "image format: oci (default) or docker" },
    iidfile: { type: "string", description: "write the image ID to this file" },
    "include-volumes": { type: "boolean", description: "make the container's volumes the image's VOLUMEs" },
    squash: { type: "boolean", description: "not supported: tspod commits one layer on top of the image's" },
  },
  async main(ctx: Context, flags, argv) {
    const [container, name] = argv as string[];
    if (flags.squash) throw new UsageError("--squash: not supported (tspod commits the changes as one layer on top of the image's layers)");
    const f = flags.format ?? "oci";
    if (f !== "oci" && f !== "docker") throw new UsageError(`--format ${f}: must be oci or docker`);
    const [{ Committer }, { makeProgress }] = await Promise.all([import("../../image/commit.ts"), import("../progress.ts")]);
    const progress = makeProgress(flags.quiet);
    let id: string;
    try {
      const img = await new Committer(ctx).commit(container!, {
        name,
        author: flags.author,
        message: flags.message,
        changes: flags.change ?? [],
        pause: flags.pause,
        format: f === "oci" ? "oci" : "v2s2",
        includeVolumes: flags["include-volumes"],
        onEvent: (e) => progress.event(e),
      });
      id = img.id;
    } finally {
      progress.end();
    }
    if (flags.iidfile) {
      const { writeFileAtomic } = await import("../../storage/atomic.ts");
      try {
        writeFileAtomic(flags.iidfile, id, 0o644, false, false); // the bare ID, as Podman's commit writes it
      } catch (e) {
        throw new TspodError(`writing the image ID to ${flags.iidfile}: ${(e as Error).message}`);
      }
    }
    out(id);
  },
};
export default impl;
