// tspod pod create|start|stop|restart|kill|rm|ps|inspect|exists: containers that share one
// network namespace and reach each other by name (see src/network/pods.ts).
import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { alignColumns, formatList, renderTemplate } from "./format.ts";
import { each } from "./each.ts";
import { TspodError, UsageError } from "../errors.ts";
import { writeOut } from "../output.ts";
import type { Context } from "../context.ts";
import type { PodConfig } from "../network/pods.ts";

async function pods(ctx: any) {
  const { PodStore } = await import("../network/pods.ts");
  return new PodStore(ctx);
}

export class PodCreate extends BaseCommand {
  static override description = "Create a pod: containers in it share one network namespace and reach each other by name";
  static override examples = [
    "tspod pod create --name web -p 8080:80",
    "tspod run -d --pod web --name db busybox sleep 1d",
    "tspod run --rm --pod web busybox ping -c1 db",
  ];
  static override flags = {
    name: Flags.string({ char: "n", description: "name of the pod" }),
    publish: Flags.string({ char: "p", multiple: true, multipleNonGreedy: true, description: "publish a port of the pod: [[IP:][HOSTPORT]:]CONTAINERPORT[/tcp|/udp]" }),
    network: Flags.string({ aliases: ["net"], description: "pasta, slirp4netns or none (default: pasta if installed, else slirp4netns)" }),
    hostname: Flags.string({ description: "the pod's host name (default: its name)" }),
    label: Flags.string({ char: "l", multiple: true, multipleNonGreedy: true, description: "KEY=VALUE metadata" }),
    "add-host": Flags.string({ multiple: true, multipleNonGreedy: true, description: "add HOST:IP to the pod's /etc/hosts (IP may be host-gateway)" }),
    dns: Flags.string({ multiple: true, multipleNonGreedy: true, description: "DNS server for the pod's /etc/resolv.conf" }),
    "dns-search": Flags.string({ multiple: true, multipleNonGreedy: true, description: "DNS search domain for the pod's /etc/resolv.conf (. for none)" }),
    "dns-option": Flags.string({ multiple: true, multipleNonGreedy: true, description: "DNS option for the pod's /etc/resolv.conf" }),
  };
  async run() {
    const { flags } = await this.setup(PodCreate);
    const { createPod } = await import("../network/pod-ops.ts");
    const pod = await createPod(this.context, {
      name: flags.name,
      publish: flags.publish ?? [],
      network: flags.network,
      hostname: flags.hostname,
      labels: flags.label ?? [],
      names: { addHosts: flags["add-host"], dns: flags.dns, dnsSearch: flags["dns-search"], dnsOptions: flags["dns-option"] },
    });
    this.out(pod.id);
  }
}

/** Every pod named is looked up first (one that is not there: an error, nothing done, as Podman), then fn on each. */
async function forEachPod(ctx: Context, names: string[], fn: (p: PodConfig, ops: typeof import("../network/pod-ops.ts")) => Promise<void>): Promise<void> {
  const store = await pods(ctx);
  const found = new Map(names.map((n) => [n, store.lookup(n)]));
  const ops = await import("../network/pod-ops.ts");
  await each(names, async (n) => {
    const p = found.get(n)!;
    await fn(p, ops);
    return p.id;
  });
}

const TIME_FLAG = { time: Flags.integer({ char: "t", min: 0, max: 2147483647, description: "seconds to wait before SIGKILL (default 10)" }) };

export class PodStart extends BaseCommand {
  static override description = "Start pods: the infra container, then every member";
  static override strict = false;
  static override args = { pod: Args.string({ required: true }) };
  async run() {
    const { argv } = await this.setup(PodStart);
    await forEachPod(this.context, argv as string[], (p, ops) => ops.startPod(this.context, p));
  }
}

export class PodStop extends BaseCommand {
  static override description = "Stop pods: every member, then the infra container";
  static override strict = false;
  static override args = { pod: Args.string({ required: true }) };
  static override flags = TIME_FLAG;
  async run() {
    const { flags, argv } = await this.setup(PodStop);
    await forEachPod(this.context, argv as string[], (p, ops) => ops.stopPod(this.context, p, flags.time));
  }
}

export class PodRestart extends BaseCommand {
  static override description = "Restart pods: stop every member and the infra container, then start them again";
  static override strict = false;
  static override args = { pod: Args.string({ required: true }) };
  static override flags = TIME_FLAG;
  async run() {
    const { flags, argv } = await this.setup(PodRestart);
    await forEachPod(this.context, argv as string[], async (p, ops) => {
      await ops.stopPod(this.context, p, flags.time);
      await ops.startPod(this.context, p);
    });
  }
}

export class PodKill extends BaseCommand {
  static override description = "Send a signal to the running containers of pods (default SIGKILL)";
  static override strict = false;
  static override args = { pod: Args.string({ required: true }) };
  static override flags = { signal: Flags.string({ char: "s", description: "signal name or number", default: "SIGKILL" }) };
  async run() {
    const { flags, argv } = await this.setup(PodKill);
    const { parseSignal } = await import("../container/lifecycle.ts");
    const sig = parseSignal(flags.signal);
    await forEachPod(this.context, argv as string[], (p, ops) => ops.killPod(this.context, p, sig));
  }
}

export class PodRm extends BaseCommand {
  static override description = "Remove pods with their containers";
  static override strict = false;
  static override args = { pod: Args.string({ required: false }) };
  static override flags = {
    force: Flags.boolean({ char: "f", description: "kill running containers first" }),
    all: Flags.boolean({ char: "a", description: "remove every pod" }),
    time: Flags.integer({ char: "t", min: 0, max: 2147483647, description: "with -f: seconds to wait for running containers to stop before they are killed (default: killed at once)" }),
  };
  async run() {
    const { flags, argv } = await this.setup(PodRm);
    if (flags.time !== undefined && !flags.force) throw new UsageError("--force option must be specified to use the --time option");
    const store = await pods(this.context);
    const { removePod } = await import("../network/pod-ops.ts");
    const names = flags.all ? store.list().map((p) => p.id) : argv;
    if (flags.all && !names.length) return;
    if (!names.length) throw new UsageError("at least one pod name or ID is required (or --all)");
    // like Podman: with -f a pod that is not there is no error (cleanup scripts)
    await each(names, async (n) => {
      const p = store.find(n);
      if (!p) {
        if (flags.force) return;
        // exit 1, as Podman's pod rm of a pod that is not there
        try {
          store.lookup(n);
        } catch (e) {
          throw new TspodError((e as Error).message, 1);
        }
        return;
      }
      await removePod(this.context, p, !!flags.force, flags.time);
      return p.id;
    });
  }
}

export class PodExists extends BaseCommand {
  static override description = "Exit 0 if the pod exists, 1 if not";
  static override args = { pod: Args.string({ required: true }) };
  async run() {
    const { args } = await this.setup(PodExists);
    if (!(await pods(this.context)).find(args.pod)) this.exit(1);
  }
}

async function podView(ctx: any) {
  const { Lifecycle } = await import("../container/lifecycle.ts");
  const { podContainers, podStatus } = await import("../network/pod-ops.ts");
  const lc = new Lifecycle(ctx);
  return (p: import("../network/pods.ts").PodConfig) => {
    const { infra, members } = podContainers(lc, p);
    return { infra, members, status: podStatus(infra, members) };
  };
}

export class PodPs extends BaseCommand {
  static override description = "List pods";
  static override aliases = ["pod:ls", "pod:list"];
  static override flags = {
    quiet: Flags.boolean({ char: "q", description: "print only IDs" }),
    "no-trunc": Flags.boolean({ description: "do not truncate IDs" }),
    noheading: Flags.boolean({ description: "no header" }),
    format: Flags.string({ description: "json or a Go template" }),
  };
  async run() {
    const { flags } = await this.setup(PodPs);
    const list = (await pods(this.context)).list();
    const id = (s: string) => (flags["no-trunc"] ? s : s.slice(0, 12));
    if (flags.quiet) {
      if (list.length) this.out(list.map((p) => id(p.id)).join("\n"));
      return;
    }
    const view = await podView(this.context);
    const { since } = await import("./human.ts");
    const { formatPortsColumn } = await import("../network/ports.ts");
    const rows = list.map((p) => {
      const v = view(p);
      return {
        ID: id(p.id), Id: p.id, Name: p.name, Status: v.status, Created: since(p.created), CreatedAt: p.created,
        InfraID: id(p.infraId), NumberOfContainers: v.members.length + (v.infra ? 1 : 0), Ports: formatPortsColumn(p.ports), Labels: p.labels,
        Containers: [...(v.infra ? [v.infra] : []), ...v.members].map((c) => ({ Id: c.config.id, Names: c.config.name, Status: c.state.status })),
      };
    });
    if (flags.format === "json") return this.out(JSON.stringify(rows.map(({ ID: _, ...r }) => ({ ...r, Id: r.Id, InfraId: r.InfraID })), null, 4));
    if (flags.format) return void writeOut(formatList(rows, flags.format, { ID: "POD ID", Name: "NAME" }, flags.noheading));
    const head = "POD ID\tNAME\tSTATUS\tCREATED\tINFRA ID\t# OF CONTAINERS";
    const lines = rows.map((r) => [r.ID, r.Name, r.Status, r.Created, r.InfraID, String(r.NumberOfContainers)].join("\t"));
    writeOut(alignColumns(flags.noheading ? lines : [head, ...lines]));
  }
}

export class PodInspect extends BaseCommand {
  static override description = "Show details of pods as JSON";
  static override strict = false;
  static override args = { pod: Args.string({ required: true }) };
  static override flags = { format: Flags.string({ char: "f", description: "json or a Go template" }) };
  async run() {
    const { flags, argv } = await this.setup(PodInspect);
    const store = await pods(this.context);
    const view = await podView(this.context);
    const { portBindings } = await import("../network/ports.ts");
    const out = argv.map((n) => {
      const p = store.lookup(n);
      const v = view(p);
      return {
        Id: p.id,
        Name: p.name,
        Created: p.created,
        Hostname: p.hostname,
        Labels: p.labels,
        State: v.status,
        InfraContainerID: p.infraId,
        SharedNamespaces: ["net"],
        NumContainers: v.members.length + (v.infra ? 1 : 0),
        InfraConfig: { NetworkMode: p.network, NetworkOptions: p.networkOptions, PortBindings: portBindings(p.ports), HostsPath: v.infra ? `${v.infra.dir}/userdata/hosts` : "" },
        Containers: [...(v.infra ? [v.infra] : []), ...v.members].map((c) => ({ Id: c.config.id, Name: c.config.name, State: c.state.status })),
      };
    });
    if (flags.format && flags.format !== "json") {
      const text = out.map((o) => renderTemplate(flags.format!, o)); // all or nothing
      for (const t of text) this.out(t);
    }
    else this.out(JSON.stringify(argv.length === 1 ? out[0] : out, null, 4));
  }
}
