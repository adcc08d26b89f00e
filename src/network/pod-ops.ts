// Pod operations over the container lifecycle: create (the pod and its infra
// container), start, stop, remove, status. The infra starts first and stops
// last: it holds the network namespace every member joins.
import { randomHex } from "../sys/random.ts";
import type { Context } from "../context.ts";
import { TspodError, UsageError } from "../errors.ts";
import { isUp, type Container } from "../container/record.ts";
import type { Lifecycle } from "../container/lifecycle.ts";
import { defaultNetwork, parseNetwork } from "./mode.ts";
import { assignHostPorts, checkConflicts, checkPortsForNetwork, parsePublish } from "./ports.ts";
import { PodStore, type PodConfig } from "./pods.ts";
import type { NameOptions } from "./setup.ts";

export interface PodCreateOptions {
  name?: string;
  publish: string[];
  network?: string;
  hostname?: string;
  labels: string[];
  /** --add-host, --dns, --dns-search, --dns-option for the pod's shared files */
  names?: NameOptions;
}

export async function createPod(ctx: Context, o: PodCreateOptions): Promise<PodConfig> {
  const { createInfraContainer } = await import("../container/create.ts");
  const store = new PodStore(ctx);
  const net = parseNetwork(o.network) ?? defaultNetwork();
  if (net.mode === "container") throw new UsageError("a pod has its own network: --network container: is not allowed for a pod");
  if (net.mode === "host") throw new UsageError("a pod has its own network namespace: --network host is not allowed for a pod");
  let ports = o.publish.flatMap(parsePublish);
  checkPortsForNetwork(ports, net.mode);
  ports = await assignHostPorts(ports);
  checkConflicts(ports);
  const id = randomHex(32);
  const name = o.name ?? `pod_${id.slice(0, 8)}`;
  const labels: Record<string, string> = {};
  for (const l of o.labels) {
    const i = l.indexOf("=");
    labels[i < 0 ? l : l.slice(0, i)] = i < 0 ? "" : l.slice(i + 1);
  }
  store.reserve(name, id);
  try {
    const hostname = o.hostname ?? name;
    const infraId = createInfraContainer(ctx, { id, name, hostname, net, ports, labels, names: o.names });
    const pod: PodConfig = { id, name, created: new Date().toISOString(), infraId, hostname, network: net.mode, networkOptions: net.options, ports, labels };
    store.save(pod);
    return pod;
  } catch (e) {
    store.remove({ id, name } as PodConfig);
    throw e;
  }
}

async function lifecycle(ctx: Context): Promise<Lifecycle> {
  const { Lifecycle } = await import("../container/lifecycle.ts");
  return new Lifecycle(ctx);
}

/** The infra and the members (newest first), as they are on disk now. */
export function podContainers(lc: Lifecycle, pod: PodConfig): { infra?: Container; members: Container[] } {
  const all = lc.store.list().filter((c) => c.config.pod === pod.id);
  return { infra: all.find((c) => c.config.id === pod.infraId), members: all.filter((c) => c.config.id !== pod.infraId) };
}

/** Podman's pod states over all its containers, the infra too: Created, Running, Degraded (some running), Exited. */
export function podStatus(infra: Container | undefined, members: Container[]): string {
  const list = infra ? [infra, ...members] : members;
  if (!list.length) return "Created";
  const running = list.filter(isUp).length;
  if (running === list.length) return "Running";
  if (running > 0) return "Degraded";
  if (list.every((c) => c.state.status === "created")) return "Created";
  return "Exited";
}

export async function startPod(ctx: Context, pod: PodConfig): Promise<void> {
  const lc = await lifecycle(ctx);
  const { infra, members } = podContainers(lc, pod);
  if (!infra) throw new TspodError(`pod ${pod.name} has lost its infra container`);
  if (!isUp(infra)) await lc.start(infra, { attach: false, stdin: false });
  const errors: string[] = [];
  for (const c of members.reverse()) {
    if (isUp(c)) continue;
    try {
      await lc.start(lc.store.lookup(c.config.id), { attach: false, stdin: c.config.interactive });
    } catch (e: any) {
      errors.push(`${c.config.name}: ${e.message}`);
    }
  }
  if (errors.length) throw new TspodError(`starting pod ${pod.name}: ${errors.join("; ")}`);
}

export async function stopPod(ctx: Context, pod: PodConfig, timeout?: number): Promise<void> {
  const lc = await lifecycle(ctx);
  const { infra, members } = podContainers(lc, pod);
  await Promise.all(members.filter(isUp).map((c) => lc.stop(c, timeout)));
  if (infra && isUp(infra)) await lc.stop(infra, timeout);
}

/** A signal to every running container of the pod, the members and then its infra, as Podman's pod kill. */
export async function killPod(ctx: Context, pod: PodConfig, sig: number): Promise<void> {
  const lc = await lifecycle(ctx);
  const { infra, members } = podContainers(lc, pod);
  // nothing running: nothing to do, as Podman's pod kill
  for (const c of [...members, ...(infra ? [infra] : [])].filter(isUp)) lc.kill(c, sig);
}

/**
 * Remove the pod, its members and its infra; running ones only with force:
 * killed, or with a timeout stopped as `pod stop -t N` does (members, then infra).
 */
export async function removePod(ctx: Context, pod: PodConfig, force: boolean, timeout?: number): Promise<void> {
  const lc = await lifecycle(ctx);
  const { infra, members } = podContainers(lc, pod);
  let running = members.filter(isUp);
  if (running.length && !force) throw new TspodError(`pod ${pod.name} has running containers (${running.map((c) => c.config.name).join(", ")}): stop them first or use --force`);
  if (timeout) {
    await stopPod(ctx, pod, timeout);
    running = podContainers(lc, pod).members.filter(isUp);
  }
  for (const c of running) {
    try {
      process.kill(c.state.pid, "SIGKILL");
    } catch {}
  }
  for (const c of members) await lc.remove(lc.store.load(c.config.id) ?? c, true, { podRemoval: true });
  if (infra) await lc.remove(lc.store.load(infra.config.id) ?? infra, true, { podRemoval: true });
  new PodStore(ctx).remove(pod);
}
