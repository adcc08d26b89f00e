// ps: list containers (lean path and oclif share this).
import type { Context } from "../../context.ts";
import { alignColumns, formatList } from "../format.ts";
import { hasLabel } from "../../labels.ts";
import { UsageError } from "../../errors.ts";
import type { CommandImpl } from "../spec.ts";
import { CLEAR_SCREEN, isTerminal, stdoutGone, writeOut } from "../../output.ts";

/** The states a container can be in (status= filter values). */
const STATES = ["created", "running", "paused", "stopping", "exited"];

const impl: CommandImpl = {
  flags: {
    all: { type: "boolean", char: "a", description: "show all containers" },
    quiet: { type: "boolean", char: "q", description: "print only IDs" },
    last: { type: "integer", char: "n", description: "show the n most recently created" },
    latest: { type: "boolean", char: "l", description: "show the latest created container" },
    "no-trunc": { type: "boolean", description: "do not truncate" },
    noheading: { type: "boolean", description: "no header" },
    format: { type: "string", description: "json or a Go template" },
    filter: { type: "string", char: "f", multiple: true, description: "id=, name=, status=, label=, ancestor=, exited=, pod=, network=, before=, since= (a container), until= (a time)" },
    sort: { type: "string", description: "order by command, created (oldest first), id, image, names, runningfor, size, status (default: newest first)" },
    size: { type: "boolean", char: "s", description: "show each container's size: its writable layer (virtual: with its image)" },
    pod: { type: "boolean", char: "p", description: "show the pod of each container (POD ID and PODNAME columns)" },
    watch: { type: "integer", char: "w", description: "show the list again every N seconds (0: once); on a terminal, a live view: select a container, stop, start, restart, kill, pause or remove it, see its logs (q quits)" },
  },
  async main(ctx: Context, flags) {
    // --watch 0 is no watch, as Podman's
    if (!flags.watch) return void writeOut((await listing(ctx, flags)).text);
    if (flags.watch < 0) throw new UsageError("--watch: give a number of seconds");
    if (flags.latest) throw new UsageError("--watch and --latest cannot be used together");
    const every = flags.watch * 1000;
    // a terminal both ways, the table as it is: the live view (select a container, act on it, see its logs)
    if (isTerminal(0) && isTerminal(1) && !flags.quiet && !flags.format) {
      const { loadView } = await import("../../tui/load.ts");
      const { psView } = await loadView(() => import("../../tui/ps.tsx"));
      return await psView({
        rows: async (all) => (await listing(ctx, { ...flags, all })).rows,
        every,
        all: !!flags.all,
        filtered: !!flags.filter?.length || flags.last !== undefined || !!flags.latest,
        sort: flags.sort === undefined ? undefined : String(flags.sort).toLowerCase(),
        pod: !!flags.pod,
        size: !!flags.size,
        globals: globalArgs(ctx),
      });
    }
    // else the output again every N seconds: on a terminal in place of the last (as Podman's), else below it
    const clear = isTerminal(1) ? CLEAR_SCREEN : "";
    for (;;) {
      writeOut(clear + (await listing(ctx, flags)).text + (clear ? "" : "\n"));
      if (stdoutGone()) return; // its reader went away (ps --watch 1 | head -3)
      await Bun.sleep(every);
    }
  },
};
export default impl;

/** The global flags that give a command run from the live view this store. */
function globalArgs(ctx: Context): string[] {
  return ["--root", ctx.root, "--runroot", ctx.runroot, "--log-level", ctx.logLevel, ...(ctx.storageDriver ? ["--storage-driver", ctx.storageDriver] : [])];
}

/** One row of the table (and the template's fields). */
export type PsRow = Awaited<ReturnType<typeof listing>>["rows"][number];

/** What ps prints for these flags, and the table's rows. */
async function listing(ctx: Context, flags: Record<string, any>) {
  const { ContainerStore, isUp, userMounts } = await import("../../container/record.ts");
  const { mapOrNil } = await import("../../gonil.ts");
  const { since, humanSize, goTime } = await import("../human.ts");
  // sizes as Podman's ps writes them: 0B, 699kB, 1.98MB (no space)
  const compactSize = (n: number) => humanSize(n).replace(" ", "");
  const { formatPortsColumn } = await import("../../network/ports.ts");
  const store = new ContainerStore(ctx);
  let list = store.list();
  // pods (their names for pod=, their ports for members), read only when a container is in one
  const pods = list.some((c) => c.config.pod) ? new (await import("../../network/pods.ts")).PodStore(ctx) : undefined;
  const podCache = new Map<string, any>();
  const podOf = (pod?: string) => {
    if (!pod || !pods) return undefined;
    if (!podCache.has(pod)) podCache.set(pod, pods.load(pod));
    return podCache.get(pod);
  };
  // sizes (ps -s, --sort size): counted once the list is filtered, for what is shown
  let sizes: Map<string, import("../../container/size.ts").ContainerSize> | undefined;
  const sizeOf = (c: (typeof list)[number]) => sizes?.get(c.config.id);
  const sortKey = flags.sort === undefined ? undefined : String(flags.sort).toLowerCase();
  if (sortKey !== undefined) {
    const keys: Record<string, (c: (typeof list)[number]) => string | number> = {
      command: (c) => c.config.command.join(" "),
      created: (c) => Date.parse(c.config.created), // oldest first, as Podman sorts
      id: (c) => c.config.id,
      image: (c) => c.config.image.name,
      names: (c) => c.config.name,
      runningfor: (c) => Date.parse(c.config.created),
      status: (c) => c.state.status,
    };
    const key = keys[sortKey];
    if (!key && sortKey !== "size") throw new UsageError(`invalid --sort "${flags.sort}": use ${[...Object.keys(keys), "size"].join(", ")}`);
    // (size: once the sizes are counted, below)
    if (key) list = [...list].sort((a, b) => {
      const x = key(a), y = key(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
  }
  if (!flags.all && !flags.last && !flags.latest && !(flags.filter ?? []).some((f: string) => f.startsWith("status=") || f.startsWith("exited="))) list = list.filter(isUp);
  // Like Podman: values of one key are alternatives (any may match), except label
  // (every one must); different keys must all match.
  const byKey = new Map<string, string[]>();
  for (const f of (flags.filter ?? []) as string[]) {
    const i = f.indexOf("=");
    if (i < 0) throw new UsageError(`invalid filter "${f}": use KEY=VALUE`);
    const k = f.slice(0, i), v = f.slice(i + 1);
    if (k === "status" && !STATES.includes(v)) throw new UsageError(`invalid filter "status=${v}": unknown container state (use ${STATES.join(", ")})`);
    byKey.set(k, [...(byKey.get(k) ?? []), v]);
  }
  // before= and since=: created before or after that container (a name or ID; one that is not there is an error)
  const created = (c: (typeof list)[number]) => Date.parse(c.config.created);
  const refTimes = new Map<string, number>();
  for (const k of ["before", "since"]) for (const v of byKey.get(k) ?? []) refTimes.set(v, created(store.lookup(v))); // an error even with nothing to filter
  const refTime = (v: string) => refTimes.get(v)!;
  const { parseTime } = await import("../human.ts");
  const untilTimes = new Map<string, number>();
  const untilTime = (v: string) => untilTimes.get(v) ?? untilTimes.set(v, parseTime(v, "until")).get(v)!;
  for (const [k, values] of byKey) {
    const pred: Record<string, (c: (typeof list)[number], v: string) => boolean> = {
      id: (c, v) => c.config.id.startsWith(v),
      name: (c, v) => new RegExp(v).test(c.config.name),
      status: (c, v) => c.state.status === v,
      label: (c, v) => hasLabel(c.config.labels, v),
      ancestor: (c, v) => c.config.image.name === v || c.config.image.name.endsWith(`/${v}`) || c.config.image.name.endsWith(`/${v}:latest`) || c.config.image.id.startsWith(v),
      exited: (c, v) => c.state.status === "exited" && String(c.state.exitCode) === v,
      // a pod by name or ID prefix; a network mode by name (pasta, slirp4netns, host, none, container:NAME)
      pod: (c, v) => !!c.config.pod && (c.config.pod.startsWith(v) || podOf(c.config.pod)?.name === v),
      network: (c, v) => c.config.network === v || c.config.network.split(":")[0] === v,
      before: (c, v) => created(c) < refTime(v),
      since: (c, v) => created(c) > refTime(v),
      until: (c, v) => created(c) <= untilTime(v),
    };
    const p = pred[k];
    if (!p) throw new UsageError(`invalid filter "${k}": supported are ${Object.keys(pred).join(", ")}`);
    list = list.filter((c) => (k === "label" ? values.every((v) => p(c, v)) : values.some((v) => p(c, v))));
  }
  if (flags.latest) list = list.slice(0, 1);
  if (flags.last !== undefined) list = list.slice(0, flags.last);
  if (flags.quiet && flags.size) throw new UsageError("quiet conflicts with size"); // (Podman's words, less its namespace flag)
  const bySize = sortKey === "size";
  if (flags.size || bySize) {
    sizes = (await import("../../container/size.ts")).containerSizes(ctx, list);
    // as Podman: by the root filesystem's size, smallest first
    if (bySize) list = [...list].sort((a, b) => sizeOf(a)!.rootFsSize - sizeOf(b)!.rootFsSize);
  }
  if (flags.quiet) return { text: list.length ? list.map((c) => (flags["no-trunc"] ? c.config.id : c.config.id.slice(0, 12))).join("\n") + "\n" : "", rows: [] };
  // pod members share the pod's network: its published ports are theirs too (as Podman shows
  // them), and so are those of the container whose network a container:NAME one joined
  const all = new Map(list.map((c) => [c.config.id, c]));
  const sharedPorts = (c: (typeof list)[number]) => {
    if (c.config.pod) return podOf(c.config.pod)?.ports;
    if (!c.config.network.startsWith("container:")) return undefined;
    const id = c.config.network.slice("container:".length);
    return (all.get(id) ?? store.find(id))?.config.ports;
  };
  const unix = (t?: string) => (t ? Math.floor(Date.parse(t) / 1000) : 0);
  // fields the template and --format json both give
  const networks = (c: (typeof list)[number]) => (c.config.network.startsWith("container:") ? [] : [c.config.network]);
  const bindMounts = (c: (typeof list)[number]) => userMounts(c).filter((m) => m.type === "bind").map((m) => m.destination);
  const statusText = (c: (typeof list)[number]) => {
    const s = c.state;
    if (s.status === "running") return `Up ${since(s.startedAt ?? c.config.created).replace(/ ago$/, "")}`;
    if (s.status === "paused") return "Paused";
    if (s.status === "exited") return `Exited (${s.exitCode ?? 0}) ${since(s.finishedAt ?? c.config.created)}`;
    return "Created";
  };
  const rows = list.map((c) => ({
    ID: flags["no-trunc"] ? c.config.id : c.config.id.slice(0, 12),
    Id: c.config.id,
    Image: c.config.image.name,
    ImageID: c.config.image.id,
    Command: flags["no-trunc"] ? c.config.command.join(" ") : truncate(c.config.command.join(" "), 17),
    // as Podman 4's: both the time as Go prints it; CreatedHuman and RunningFor say "... ago"
    Created: goTime(c.config.created),
    CreatedAt: goTime(c.config.created),
    Status: statusText(c),
    State: c.state.status,
    Ports: formatPortsColumn(c.config.ports?.length ? c.config.ports : sharedPorts(c)),
    Pod: c.config.pod ? c.config.pod.slice(0, 12) : "",
    PodName: podOf(c.config.pod)?.name ?? "",
    IsInfra: !!c.config.infra,
    Names: c.config.name,
    Pid: c.state.pid,
    ExitCode: c.state.exitCode ?? 0,
    Exited: c.state.status === "exited",
    ExitedAt: unix(c.state.finishedAt),
    StartedAt: unix(c.state.startedAt),
    RunningFor: since(c.config.created),
    CreatedHuman: since(c.config.created),
    AutoRemove: !!c.config.autoRemove,
    Networks: networks(c),
    Mounts: bindMounts(c),
    Labels: mapOrNil(c.config.labels),
    Size: sizeOf(c) ? `${compactSize(sizeOf(c)!.rwSize)} (virtual ${compactSize(sizeOf(c)!.rootFsSize)})` : "",
  }));
  if (flags.format === "json") {
    return { rows, text: JSON.stringify(list.map((c) => ({ Id: c.config.id, Image: c.config.image.name, ImageID: c.config.image.id, Command: c.config.command, Created: unix(c.config.created), CreatedAt: c.config.created, State: c.state.status, Status: statusText(c), Names: [c.config.name], Pid: c.state.pid, ExitCode: c.state.exitCode ?? 0, Exited: c.state.status === "exited", StartedAt: unix(c.state.startedAt), ExitedAt: unix(c.state.finishedAt), Labels: mapOrNil(c.config.labels), AutoRemove: c.config.autoRemove, Mounts: bindMounts(c), Networks: networks(c), Namespaces: {}, Ports: c.config.ports?.length ? c.config.ports.map((p) => ({ host_ip: p.hostIP, container_port: p.containerPort, host_port: p.hostPort, range: p.range, protocol: p.protocol })) : null, Pod: c.config.pod ?? "", PodName: podOf(c.config.pod)?.name ?? "", IsInfra: !!c.config.infra, Size: sizes ? { rootFsSize: sizeOf(c)!.rootFsSize, rwSize: sizeOf(c)!.rwSize } : null })), null, 4) + "\n" };
  }
  if (flags.format && flags.format.trim() !== "table") return { rows, text: formatList(rows, flags.format, { ID: "CONTAINER ID", Names: "NAMES", Pod: "POD ID", PodName: "PODNAME", Size: "SIZE" }, flags.noheading) };
  const head = `CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES${flags.pod ? "\tPOD ID\tPODNAME" : ""}${flags.size ? "\tSIZE" : ""}`;
  const lines = rows.map((r) => [r.ID, r.Image, r.Command, r.CreatedHuman, r.Status, r.Ports, r.Names, ...(flags.pod ? [r.Pod, r.PodName] : []), ...(flags.size ? [r.Size] : [])].join("\t"));
  return { rows, text: alignColumns(flags.noheading ? lines : [head, ...lines]) };
}

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) + "..." : s;
}
