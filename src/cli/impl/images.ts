// images: list local images (lean path and oclif share this).
import type { Context } from "../../context.ts";
import { alignColumns, formatList } from "../format.ts";
import { UsageError } from "../../errors.ts";
import { out, type CommandImpl } from "../spec.ts";
import { writeOut } from "../../output.ts";

const impl: CommandImpl = {
  flags: {
    all: { type: "boolean", char: "a", description: "show all images (tspod keeps no intermediate images, so the same list)" },
    quiet: { type: "boolean", char: "q", description: "print only image IDs" },
    digests: { type: "boolean", description: "show digests" },
    "no-trunc": { type: "boolean", description: "do not truncate IDs" },
    noheading: { type: "boolean", char: "n", description: "do not print the header" },
    format: { type: "string", description: "json or a Go template" },
    filter: { type: "string", char: "f", multiple: true, description: "dangling=true|false, reference=PATTERN" },
  },
  async main(ctx: Context, flags) {
    const { Images, since, humanSize, splitName } = await import("../../image/images.ts");
    const images = new Images(ctx);
    let list = images.list();
    for (const f of (flags.filter ?? []) as string[]) {
      const [k, v] = [f.slice(0, f.indexOf("=")), f.slice(f.indexOf("=") + 1)];
      if (k === "dangling") {
        if (v !== "true" && v !== "false") throw new UsageError(`invalid filter value dangling=${v}: use true or false`);
        list = list.filter((i) => (i.names.length === 0) === (v === "true"));
      } else if (k === "reference") {
        // Like Docker: keep the images with a matching name, and show only the matching names.
        const re = globToRegExp(v);
        const match = (n: string) => re.test(n) || re.test(n.replace(/^[^/]+\//, "")) || re.test(splitName(n)[0]) || re.test(splitName(n)[0].replace(/^[^/]+\//, ""));
        list = list.filter((i) => i.names.some(match)).map((i) => ({ ...i, names: i.names.filter(match) }));
      } else throw new UsageError(`invalid image filter "${f}": supported are dangling, reference`);
    }
    if (flags.quiet) {
      const ids = [...new Set(list.map((i) => (flags["no-trunc"] ? `sha256:${i.id}` : i.id.slice(0, 12))))];
      if (ids.length) out(ids.join("\n"));
      return;
    }
    const wantLabels = /\.Labels\b/.test(flags.format ?? "");
    const wantContainers = /\.Containers\b/.test(flags.format ?? "");
    const users = wantContainers ? (await import("../../image/users.ts")).imageUsers(ctx) : () => [];
    const rows = list.flatMap((i) => {
      const names = i.names.length ? i.names : ["<none>:<none>"];
      return names.map((n) => {
        const [repo, tag] = n === "<none>:<none>" ? ["<none>", "<none>"] : splitName(n);
        return {
          ID: flags["no-trunc"] ? `sha256:${i.id}` : i.id.slice(0, 12),
          Id: i.id,
          Repository: repo,
          Tag: tag,
          Digest: i.nameDigests?.[n] ?? i.manifest.digest,
          Created: since(i.created),
          CreatedSince: since(i.created),
          CreatedAt: i.created,
          Size: humanSize(i.size),
          Names: i.names,
          Dangling: i.names.length === 0,
          VirtualSize: humanSize(i.size),
          SharedSize: humanSize(0),
          ReadOnly: false,
          History: i.names.join(", "),
          // read from the image's config only when the template asks
          ...(wantLabels ? { Labels: images.config(i)?.config?.Labels ?? {} } : {}),
          ...(wantContainers ? { Containers: users(i.id).length } : {}),
        };
      });
    });
    if (flags.format === "json") {
      const json = list.map((i) => ({ Id: i.id, ParentId: "", RepoTags: i.names, RepoDigests: i.repoDigests, Size: i.size, SharedSize: 0, VirtualSize: i.size, Labels: null, Containers: 0, Names: i.names, Digest: i.manifest.digest, Digests: i.repoDigests.map((d) => d.slice(d.indexOf("@") + 1)), History: i.names, Created: Math.floor(Date.parse(i.created) / 1000), CreatedAt: i.created }));
      return out(JSON.stringify(json, null, 4));
    }
    if (flags.format) return void writeOut(formatList(rows, flags.format));
    const cols = ["Repository", "Tag", ...(flags.digests ? ["Digest"] : []), "ID", "Created", "Size"];
    const head = ["REPOSITORY", "TAG", ...(flags.digests ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"];
    const lines = rows.map((r) => cols.map((c) => String((r as any)[c])).join("\t"));
    writeOut(alignColumns(flags.noheading ? lines : [head.join("\t"), ...lines]));
  },
};
export default impl;

export function globToRegExp(g: string): RegExp {
  const esc = g.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, ".");
  return new RegExp(`^${esc}(:[^/]*)?$`);
}
