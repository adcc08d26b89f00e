// tspod volume create|ls|inspect|rm|prune|exists: named volumes (Podman's local
// driver; src/storage/volumes.ts). `run -v NAME:/path` makes one as needed.
import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { alignColumns, formatList, formatOutput } from "./format.ts";
import { each } from "./each.ts";
import { TspodError, UsageError } from "../errors.ts";
import { writeErr, writeOut } from "../output.ts";
import type { Context } from "../context.ts";
import type { VolumeRecord } from "../storage/volumes.ts";
import { hasLabel, parseLabels } from "../labels.ts";

async function volumes(ctx: Context) {
  const [{ VolumeStore }, { ContainerStore }] = await Promise.all([import("../storage/volumes.ts"), import("../container/record.ts")]);
  const containers = new ContainerStore(ctx);
  return { vols: new VolumeStore(ctx), containers, users: (name: string) => containers.volumeUsers(name), inUse: () => containers.volumesInUse() };
}

/** --filter name=, label=KEY[=VALUE], dangling=true|false: one key's values are alternatives, different keys all apply. */
function volumeFilter(filters: string[], inUse: () => Set<string>): (v: VolumeRecord) => boolean {
  const by = new Map<string, string[]>();
  for (const f of filters) {
    const i = f.indexOf("=");
    const k = i < 0 ? f : f.slice(0, i);
    if (!["name", "label", "dangling", "driver"].includes(k) || i < 0) throw new UsageError(`invalid filter "${f}": use name=, label=, dangling= or driver=`);
    by.set(k, [...(by.get(k) ?? []), f.slice(i + 1)]);
  }
  const tests: ((v: VolumeRecord) => boolean)[] = [];
  for (const [k, vals] of by) {
    if (k === "name") tests.push((v) => vals.some((p) => v.Name.includes(p)));
    if (k === "driver") tests.push((v) => vals.includes(v.Driver));
    if (k === "label") {
      tests.push((v) => vals.some((p) => hasLabel(v.Labels, p)));
    }
    if (k === "dangling") {
      for (const d of vals) if (d !== "true" && d !== "false") throw new UsageError(`invalid filter "dangling=${d}": true or false`);
      let used: Set<string> | undefined; // (read once, when first asked)
      tests.push((v) => vals.includes(String(!(used ??= inUse()).has(v.Name))));
    }
  }
  return (v) => tests.every((t) => t(v));
}

export class VolumeCreate extends BaseCommand {
  static override description = "Create a named volume (a name is made up when none is given)";
  static override examples = ["tspod volume create data", "tspod run --rm -v data:/data busybox sh -c 'echo hi > /data/f'"];
  static override args = { name: Args.string({ required: false, description: "volume name" }) };
  static override flags = {
    label: Flags.string({ char: "l", multiple: true, multipleNonGreedy: true, description: "KEY=VALUE metadata" }),
    driver: Flags.string({ char: "d", description: "volume driver (only local)" }),
    opt: Flags.string({ char: "o", multiple: true, multipleNonGreedy: true, description: "driver options (none are supported)" }),
    ignore: Flags.boolean({ description: "a volume of that name already there is no error" }),
  };
  async run() {
    const { args, flags } = await this.setup(VolumeCreate);
    if (flags.driver && flags.driver !== "local") throw new UsageError(`volume driver ${flags.driver}: only the local driver is supported`);
    if (flags.opt?.length) throw new UsageError(`--opt ${flags.opt[0]}: the local driver here takes no options`);
    const { vols } = await volumes(this.context);
    this.out(vols.create(args.name, { labels: parseLabels(flags.label ?? []), ifExists: flags.ignore }).Name);
  }
}

export class VolumeLs extends BaseCommand {
  static override description = "List volumes";
  static override aliases = ["volume:list"];
  static override flags = {
    quiet: Flags.boolean({ char: "q", description: "print only names" }),
    format: Flags.string({ description: "json or a Go template like '{{.Name}}'" }),
    filter: Flags.string({ char: "f", multiple: true, multipleNonGreedy: true, description: "name=, label=KEY[=VALUE], dangling=true|false, driver=" }),
    noheading: Flags.boolean({ char: "n", description: "no header" }),
  };
  async run() {
    const { flags } = await this.setup(VolumeLs);
    const { vols, inUse } = await volumes(this.context);
    const list = vols.list().filter(volumeFilter(flags.filter ?? [], inUse));
    if (flags.quiet) {
      if (list.length) this.out(list.map((v) => v.Name).join("\n"));
      return;
    }
    if (flags.format === "json") return this.out(JSON.stringify(list.map(inspectShape), null, 4));
    if (flags.format) return void writeOut(formatList(list.map(inspectShape), flags.format, { Name: "VOLUME NAME", Driver: "DRIVER", Mountpoint: "MOUNTPOINT" }, flags.noheading));
    const lines = list.map((v) => `${v.Driver}\t${v.Name}`);
    writeOut(alignColumns(flags.noheading ? lines : ["DRIVER\tVOLUME NAME", ...lines]));
  }
}

/** Podman's shape of a volume (inspect, ls --format json). */
function inspectShape(v: VolumeRecord) {
  return { Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, CreatedAt: v.CreatedAt, Labels: v.Labels, Scope: v.Scope, Options: v.Options, ...(v.Anonymous ? { Anonymous: true } : {}), MountCount: 0, NeedsCopyUp: v.NeedsCopyUp };
}

export class VolumeInspect extends BaseCommand {
  static override description = "Show details of volumes as JSON";
  static override strict = false;
  static override args = { volume: Args.string({ required: false }) };
  static override flags = {
    format: Flags.string({ char: "f", description: "json or a Go template like '{{.Mountpoint}}'" }),
    all: Flags.boolean({ char: "a", description: "every volume" }),
  };
  async run() {
    const { flags, argv } = await this.setup(VolumeInspect);
    const { vols } = await volumes(this.context);
    if (!flags.all && !argv.length) throw new UsageError("at least one volume name is required (or --all)");
    // the ones there are shown, then each missing one is an error (as Podman)
    const names = flags.all ? vols.list().map((v) => v.Name) : (argv as string[]);
    const list = names.map((n) => vols.get(n)).filter((v): v is VolumeRecord => !!v);
    const missing = names.filter((n) => !vols.get(n)).map((n) => `inspecting object: no such volume ${n}`);
    const data = list.map(inspectShape);
    if (flags.format && flags.format !== "json") {
      if (data.length) this.out(data.map((d) => formatOutput(d, flags.format!)).join("\n"));
    } else this.out(JSON.stringify(data, null, 4));
    if (missing.length) {
      for (const m of missing.slice(0, -1)) writeErr(`Error: ${m}\n`);
      throw new TspodError(missing[missing.length - 1]);
    }
  }
}

export class VolumeRm extends BaseCommand {
  static override description = "Remove volumes (-f: and the containers that use them)";
  static override aliases = ["volume:remove"];
  static override strict = false;
  static override args = { volume: Args.string({ required: false }) };
  static override flags = {
    force: Flags.boolean({ char: "f", description: "remove the containers that use it first" }),
    all: Flags.boolean({ char: "a", description: "every volume" }),
  };
  async run() {
    const { flags, argv } = await this.setup(VolumeRm);
    const { vols, containers, users } = await volumes(this.context);
    const names = flags.all ? vols.list().map((v) => v.Name) : (argv as string[]);
    if (!names.length) {
      if (flags.all) return;
      throw new UsageError("at least one volume name is required (or --all)");
    }
    const { Lifecycle } = await import("../container/lifecycle.ts");
    const lc = new Lifecycle(this.context);
    await each(names, async (n) => {
      if (!vols.get(n)) throw new TspodError(`no volume with name "${n}" found: no such volume`, 1); // (Podman's 1, as rm's)
      if (flags.force) for (const id of users(n)) {
        const c = containers.load(id);
        if (c) await lc.remove(c, true);
      }
      vols.remove(n, users);
      return n;
    });
  }
}

export class VolumePrune extends BaseCommand {
  static override description = "Remove every volume no container uses";
  static override flags = {
    force: Flags.boolean({ char: "f", description: "do not ask (tspod never asks)" }),
    filter: Flags.string({ multiple: true, multipleNonGreedy: true, description: "label=KEY[=VALUE], name=: only these" }),
  };
  async run() {
    const { flags } = await this.setup(VolumePrune);
    const { vols, users, inUse } = await volumes(this.context);
    const { VolumeInUseError } = await import("../storage/volumes.ts");
    const pick = volumeFilter(flags.filter ?? [], inUse);
    const removed: string[] = [];
    for (const v of vols.list().filter(pick)) {
      try {
        vols.remove(v.Name, users);
        removed.push(v.Name);
      } catch (e) {
        // one a container started to use meanwhile stays
        if (!(e instanceof VolumeInUseError)) throw e;
      }
    }
    if (removed.length) this.out(removed.join("\n"));
  }
}

export class VolumeExists extends BaseCommand {
  static override description = "Exit 0 if the volume exists, 1 if not";
  static override args = { volume: Args.string({ required: true }) };
  async run() {
    const { args } = await this.setup(VolumeExists);
    const { vols } = await volumes(this.context);
    if (!vols.get(args.volume)) this.exit(1);
  }
}
