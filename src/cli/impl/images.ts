// images: list local images (lean path and oclif share this).
import type { Context } from "../../context.ts";
import { alignColumns, formatList } from "../format.ts";
import { UsageError } from "../../errors.ts";
import { goTime, parseTime } from "../human.ts";
import { out, type CommandImpl } from "../spec.ts";
import { writeOut } from "../../output.ts";
import { mapOrNil } from "../../gonil.ts";
import type { ImageRecord } from "../../storage/store.ts";
import { hasLabel } from "../../labels.ts";

/**
 * The filters images and image prune share: until=TIME (created before it),
 * label=KEY[=VALUE] (has it) and label!=KEY[=VALUE] (has it not); undefined
 * for any other key. labels gives an image's labels (from its config).
 */
export function sharedImageFilter(k: string, v: string, labels: (i: ImageRecord) => Record<string, string>): ((i: ImageRecord) => boolean) | undefined {
  if (k === "until") {
    const t = parseTime(v, "filter until");
    return (i) => Date.parse(i.created) < t;
  }
  if (k !== "label" && k !== "label!") return undefined;
  return (i) => hasLabel(labels(i), v) === (k === "label");
}

const impl: CommandImpl = {
  positionals: [0, 1],
  flags: {
    all: { type: "boolean", char: "a", description: "show all images (tspod keeps no intermediate images, so the same list)" },
    quiet: { type: "boolean", char: "q", description: "print only image IDs" },
    digests: { type: "boolean", description: "show digests" },
    "no-trunc": { type: "boolean", description: "do not truncate IDs" },
    noheading: { type: "boolean", char: "n", description: "do not print the header" },
    format: { type: "string", description: "json or a Go template" },
    filter: {
      type: "string",
      char: "f",
      multiple: true,
      description: "dangling=, reference=PATTERN, before=IMAGE, since=IMAGE, until=TIME, id=ID, digest=DIGEST, label=KEY[=VALUE] (label!= to exclude), containers=, readonly=, intermediate=, manifest= (true|false)",
    },
    sort: { type: "string", description: "created (newest first), id, repository, size or tag", default: "created" },
  },
  async main(ctx: Context, flags, argv) {
    const { Images, since, humanSize, splitName, isDangling, shownDigest } = await import("../../image/images.ts");
    const SORTS = ["created", "id", "repository", "size", "tag"];
    if (!SORTS.includes(flags.sort)) throw new UsageError(`"${flags.sort}" is not a valid field for sorting. Choose from: ${SORTS.join(", ")}`);
    const images = new Images(ctx);
    let list = images.list();
    const references: string[] = [];
    const bool = (k: string, v: string) => {
      if (v !== "true" && v !== "false") throw new UsageError(`invalid filter value ${k}=${v}: use true or false`);
      return v === "true";
    };
    const time = (v: string) => Date.parse(images.lookup(v).created) || 0;
    // an image's labels, read from its config once (filters and the template may each ask)
    const labelCache = new Map<string, Record<string, string>>();
    const labels = (i: (typeof list)[number]): Record<string, string> => {
      if (!labelCache.has(i.id)) labelCache.set(i.id, images.config(i)?.config?.Labels ?? {});
      return labelCache.get(i.id)!;
    };
    for (const f of (flags.filter ?? []) as string[]) {
      const eq = f.indexOf("=");
      const [k, v] = eq < 0 ? [f, ""] : [f.slice(0, eq), f.slice(eq + 1)];
      const shared = sharedImageFilter(k, v, labels);
      if (shared) list = list.filter(shared);
      else if (k === "dangling") list = list.filter((i) => isDangling(i) === bool(k, v));
      else if (k === "reference") references.push(v);
      else if (k === "before") {
        const t = time(v);
        list = list.filter((i) => Date.parse(i.created) < t);
      } else if (k === "since" || k === "after") {
        const t = time(v);
        list = list.filter((i) => Date.parse(i.created) > t);
      } else if (k === "id") list = list.filter((i) => i.id.startsWith(v.replace(/^sha256:/, "")));
      else if (k === "digest") list = list.filter((i) => i.repoDigests.some((d) => d.endsWith(`@${v}`)) || i.manifest.digest === v);
      else if (k === "containers") {
        const used = (await import("../../image/users.ts")).imageUsers(ctx);
        const want = bool(k, v);
        list = list.filter((i) => used(i.id).length > 0 === want);
      } else if (k === "readonly" || k === "intermediate" || k === "manifest") {
        // tspod keeps no read-only stores, intermediate images or manifest lists as images
        if (bool(k, v)) list = [];
      } else throw new UsageError(`unsupported image filter "${k}": use dangling, reference, before, since, until, id, digest, label, containers, readonly, intermediate or manifest`);
    }
    // Like Podman and Docker: several reference filters are alternatives; an image
    // argument (`images busybox`) is one more condition. The images with a matching
    // name are kept, showing only their matching names.
    const byReference = (patterns: string[]) => {
      const res = patterns.map(globToRegExp);
      // a name matches as itself, without its registry, and without a library/ after it
      const forms = (x: string) => {
        const noReg = x.replace(/^[^/]+\//, "");
        return [x, noReg, noReg.replace(/^library\//, "")];
      };
      const match = (n: string) => {
        const repo = n.includes("@") ? n.slice(0, n.indexOf("@")) : splitName(n)[0];
        return res.some((re) => [...forms(n), ...forms(repo)].some((f) => re.test(f)));
      };
      list = list
        .filter((i) => [...i.names, ...(i.digestRefs ?? [])].some(match))
        .map((i) => ({ ...i, names: i.names.filter(match), digestRefs: i.digestRefs?.filter(match) }));
    };
    // Podman's order: newest first, else ascending by the field (stable: an image's names stay together)
    if (flags.sort === "created") list.sort((a, b) => cmp([Date.parse(b.created) || 0, Date.parse(a.created) || 0]));
    else if (flags.sort === "id") list.sort((a, b) => cmp([a.id, b.id]));
    else if (flags.sort === "size") list.sort((a, b) => cmp([a.size, b.size]));
    if (references.length) byReference(references);
    if (argv[0]) byReference([argv[0]]);
    if (flags.quiet) {
      const ids = [...new Set(list.map((i) => (flags["no-trunc"] ? `sha256:${i.id}` : i.id.slice(0, 12))))];
      if (ids.length) out(ids.join("\n"));
      return;
    }
    const wantLabels = /\.Labels\b/.test(flags.format ?? "");
    const wantContainers = flags.format === "json" || /\.Containers\b/.test(flags.format ?? "");
    const users = wantContainers ? (await import("../../image/users.ts")).imageUsers(ctx) : () => [];
    const rows = list.flatMap((i) => {
      // pulled by digest only: REPO <none> (as Podman shows it)
      const names = i.names.length ? i.names : i.digestRefs?.length ? i.digestRefs : ["<none>:<none>"];
      return names.map((n) => {
        const at = n.indexOf("@");
        const [repo, tag] = n === "<none>:<none>" ? ["<none>", "<none>"] : at >= 0 ? [n.slice(0, at), "<none>"] : splitName(n);
        return {
          ID: flags["no-trunc"] ? `sha256:${i.id}` : i.id.slice(0, 12),
          Id: i.id,
          Repository: repo,
          Tag: tag,
          Digest: at >= 0 ? n.slice(at + 1) : shownDigest(i, n),
          Created: since(i.created),
          CreatedSince: since(i.created),
          // Go's time.Time, as Podman's template gives it
          CreatedAt: goTime(i.created),
          CreatedTime: goTime(i.created),
          Size: humanSize(i.size),
          Names: i.names,
          RepoTags: i.names,
          RepoDigests: i.repoDigests,
          ParentId: i.parent ?? "",
          Dangling: isDangling(i),
          // bytes, as Podman's template gives them (Size is the human one)
          VirtualSize: i.size,
          SharedSize: 0,
          ReadOnly: false,
          History: i.names.join(", "),
          // read from the image's config only when the template asks
          ...(wantLabels ? { Labels: mapOrNil(labels(i)) } : {}),
          ...(wantContainers ? { Containers: users(i.id).length } : {}),
        };
      });
    });
    if (flags.sort === "repository" || flags.sort === "tag") rows.sort((a, b) => cmp(flags.sort === "tag" ? [a.Tag, b.Tag] : [a.Repository, b.Repository]));
    if (flags.format === "json") {
      const json = list.map((i) => ({ Id: i.id, ParentId: i.parent ?? "", RepoTags: i.names, RepoDigests: i.repoDigests, Size: i.size, SharedSize: 0, VirtualSize: i.size, Labels: mapOrNil(labels(i)), Containers: users(i.id).length, Names: i.names, Digest: shownDigest(i), Digests: i.repoDigests.map((d) => d.slice(d.indexOf("@") + 1)), History: i.names, Created: Math.floor(Date.parse(i.created) / 1000), CreatedAt: i.created }));
      return out(JSON.stringify(json, null, 4));
    }
    // "table" alone is the default table, as with Podman
    if (flags.format && flags.format.trim() !== "table") return void writeOut(formatList(rows, flags.format, { ID: "IMAGE ID", CreatedSince: "CREATED", CreatedAt: "CREATED AT" }, flags.noheading));
    const cols = ["Repository", "Tag", ...(flags.digests ? ["Digest"] : []), "ID", "Created", "Size"];
    const head = ["REPOSITORY", "TAG", ...(flags.digests ? ["DIGEST"] : []), "IMAGE ID", "CREATED", "SIZE"];
    const lines = rows.map((r) => cols.map((c) => String((r as any)[c])).join("\t"));
    writeOut(alignColumns(flags.noheading ? lines : [head.join("\t"), ...lines]));
  },
};
export default impl;

function cmp<T extends string | number>([x, y]: [T, T]): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

export function globToRegExp(g: string): RegExp {
  const esc = g.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, ".");
  return new RegExp(`^${esc}(:[^/]*)?$`);
}
