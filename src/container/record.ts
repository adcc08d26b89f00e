// Containers on disk, no daemon:
//   <root>/containers/<id>/config.json   what the container is (written once at create)
//   <root>/containers/<id>/state.json    what it is doing (written under the container's flock)
//   <root>/containers/<id>/exit.json     written by the monitor when the process ends
//   <root>/containers/<id>/{spec,ctr.log,upper,work,merged,userdata/}
//   <root>/names/<name>                  name reservations (O_EXCL: unique under concurrent runs)
//   <runroot>/sock/<id12>                the monitor's attach socket
//   <runroot>/exits/<id>                 the exit code of a container removed in the last
//                                        5 minutes (`wait` on a --rm one), as Podman keeps them
// The state is fixed on read: a "running" container whose monitor and process
// are gone is exited, with the code the monitor recorded if it got that far.
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Context } from "../context.ts";
import { NotFoundError, TspodError } from "../errors.ts";
import { writeJsonAtomic } from "../storage/atomic.ts";
import { withLockSync } from "../storage/lock.ts";
import type { PortMapping } from "../network/ports.ts";
import type { NetAddresses } from "../network/setup.ts";

const EXIT_KEEP_MS = 5 * 60_000;

/** The PATH a container gets when its image sets none (and commit leaves out as tspod's own). */
export const DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface MountSpec {
  type: "bind" | "tmpfs";
  source: string;
  destination: string;
  options: string[];
  /** a named volume's (source: its _data) */
  volume?: string;
  /** an anonymous volume (-v /path, --mount without a source, the image's VOLUME): goes with the container (rm -v, --rm) */
  anonymous?: boolean;
}

export interface ContainerConfig {
  id: string;
  name: string;
  created: string;
  image: { id: string; name: string };
  /** final argv (entrypoint + cmd) */
  command: string[];
  entrypoint: string[];
  cmd: string[];
  env: string[];
  /** what -e and --env-file gave (commit keeps these, not tspod's own HOSTNAME, HOME, TERM, container=) */
  userEnv?: string[];
  workdir: string;
  user: string;
  hostname: string;
  tty: boolean;
  interactive: boolean;
  autoRemove: boolean;
  init: boolean;
  readOnly: boolean;
  /** --security-opt no-new-privileges */
  noNewPrivileges?: boolean;
  /** --security-opt seccomp=unconfined: no seccomp filter of tspod's (keyrings, the network's) */
  seccompUnconfined?: boolean;
  /** --security-opt apparmor=unconfined: recorded for inspect (tspod applies no AppArmor profile) */
  apparmorUnconfined?: boolean;
  /** the capability set after --cap-add/--cap-drop (none recorded: Podman's default set) */
  caps?: string[];
  /** what --cap-add gave (ALL expanded): ambient for a user other than root */
  capAdd?: string[];
  /** none | host | pasta | slirp4netns | container:<full id> */
  network: string;
  /** pasta:OPTS / slirp4netns:OPTS */
  networkOptions?: string[];
  /** published ports (host ports assigned at create) */
  ports?: PortMapping[];
  /** the image's EXPOSE list ("80/tcp") */
  exposedPorts?: string[];
  /** addresses as set up at create (own address, gateway, host.containers.internal, DNS) */
  netAddresses?: NetAddresses;
  /** --dns, --dns-search, --dns-option, --add-host, --no-hosts as given */
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  extraHosts?: string[];
  noHosts?: boolean;
  /** the pod this container belongs to (it shares the pod's network namespace) */
  pod?: string;
  /** the pod's infra container: holds the namespaces, runs nothing */
  infra?: boolean;
  mounts: MountSpec[];
  driver: "overlay" | "fuse-overlayfs" | "vfs";
  stopSignal: string;
  stopTimeout: number;
  labels: Record<string, string>;
  resources: { memory?: number; cpus?: number; pidsLimit?: number };
}

export type Status = "created" | "running" | "paused" | "stopping" | "exited";

export interface ContainerState {
  status: Status;
  pid: number;
  monitorPid: number;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  error?: string;
  /** paused without a freezer: the processes that were SIGSTOPped */
  stoppedPids?: number[];
}

export interface ExitRecord {
  exitCode: number;
  exitedAt: string;
  signal?: number;
  startError?: string;
  /** why the monitor ended the container itself */
  reason?: string;
}

export interface Container {
  config: ContainerConfig;
  state: ContainerState;
  dir: string;
}

/**
 * The mounts the user asked for (-v, --tmpfs, --read-only's tmpfs), without
 * tspod's own files (hostname, hosts, resolv.conf, .containerenv, passwd and
 * group entries), which are bound from this container's directory, or from
 * the one whose network it joined.
 */
export function userMounts(c: Container): MountSpec[] {
  const store = `${dirname(c.dir)}/`;
  return c.config.mounts.filter((m) => m.type !== "bind" || !m.source.startsWith(store));
}

/** Running or paused: its processes are there (ps without -a, stats, a pod's state). */
export const isUp = (c: Container): boolean => c.state.status === "running" || c.state.status === "paused";

export function pidAlive(pid: number): boolean {
  if (!pid || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e: any) {
    if (e.code !== "EPERM") return false;
  }
  // A zombie or a recycled pid is not our process: check it is not a zombie.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const st = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return st !== "Z" && st !== "X";
  } catch {
    return false;
  }
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/** A state that ended: as its exit record says, or (none) with its monitor gone and the code unknown. */
function ended(st: ContainerState, exit?: ExitRecord): ContainerState {
  const base = { ...st, status: "exited" as const, pid: 0, stoppedPids: undefined };
  if (exit) return { ...base, exitCode: exit.exitCode, finishedAt: exit.exitedAt, error: exit.startError ?? exit.reason };
  return { ...base, exitCode: st.exitCode ?? -1, finishedAt: new Date().toISOString(), error: "monitor died; exit code unknown" };
}

/** A name another container (or pod) has: generated names are drawn again on it (create.ts). */
export class NameInUseError extends TspodError {}

export class ContainerStore {
  readonly dir: string;
  constructor(readonly ctx: Context) {
    this.dir = join(ctx.root, "containers");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    mkdirSync(join(ctx.root, "names"), { recursive: true, mode: 0o700 });
  }

  path(id: string, ...rest: string[]): string {
    return join(this.dir, id, ...rest);
  }
  sockPath(id: string): string {
    return join(this.ctx.runroot, "sock", id.slice(0, 12));
  }

  /** Keep a removed container's exit code for EXIT_KEEP_MS (older ones go now). */
  keepExit(id: string, exitCode: number): void {
    const dir = join(this.ctx.runroot, "exits");
    try {
      const now = Date.now();
      for (const n of readdirSync(dir)) {
        try {
          if (now - statSync(join(dir, n)).mtimeMs > EXIT_KEEP_MS) rmSync(join(dir, n), { force: true });
        } catch {}
      }
    } catch {}
    try {
      writeJsonAtomic(join(dir, id), { exitCode }, 0o600, false);
    } catch {}
  }
  /** The exit code of a container removed in the last EXIT_KEEP_MS, if it had one. */
  keptExit(id: string): number | undefined {
    try {
      const p = join(this.ctx.runroot, "exits", id);
      if (Date.now() - statSync(p).mtimeMs > EXIT_KEEP_MS) return undefined;
      const v = JSON.parse(readFileSync(p, "utf8")).exitCode;
      return typeof v === "number" ? v : undefined;
    } catch {
      return undefined;
    }
  }
  lockPath(id: string): string {
    return join(this.dir, id, "lock");
  }

  /**
   * Reserve a name atomically; throws if taken. The reservation is written to a
   * temp file and link()ed into place, so nobody ever reads a half-written one.
   * It holds the container id and the creator's pid: a reservation whose creator
   * died before the container existed is stale and taken over.
   */
  reserveName(name: string, id: string): void {
    if (!NAME_RE.test(name)) throw new TspodError(`invalid container name "${name}": names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
    // pods and containers share one name space, as in Podman (pods.ts checks the other way)
    const podOwner = readFirstLine(join(this.ctx.root, "pods", "names", name));
    if (podOwner && existsSync(join(this.ctx.root, "pods", podOwner))) throw new NameInUseError(`the name "${name}" is already in use by pod ${podOwner.slice(0, 12)}: that name is already in use`);
    const p = join(this.ctx.root, "names", name);
    const tmp = join(this.ctx.root, "names", `.tmp-${id}-${process.pid}`);
    writeFileSync(tmp, `${id}\n${process.pid}\n`, { mode: 0o600 });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          linkSync(tmp, p);
          return;
        } catch (e: any) {
          if (e.code !== "EEXIST" || attempt > 3) throw e;
        }
        const [owner, pid] = this.reservation(name);
        const creating = !!pid && pidAlive(pid);
        if ((owner && existsSync(this.path(owner, "config.json"))) || creating) {
          throw new NameInUseError(`the container name "${name}" is already in use by ${owner}. You have to remove that container to be able to reuse that name: that name is already in use`);
        }
        // stale: remove it only if it is still the same stale reservation
        if (this.reservation(name)[0] === owner) rmSync(p, { force: true });
      }
    } finally {
      rmSync(tmp, { force: true });
    }
  }
  private reservation(name: string): [string | undefined, number | undefined] {
    try {
      const [id, pid] = readFileSync(join(this.ctx.root, "names", name), "utf8").split("\n");
      return [id.trim() || undefined, Number(pid) || undefined];
    } catch {
      return [undefined, undefined];
    }
  }
  nameOwner(name: string): string | undefined {
    return this.reservation(name)[0];
  }
  releaseName(name: string, id: string): void {
    if (this.nameOwner(name) === id) rmSync(join(this.ctx.root, "names", name), { force: true });
  }

  ids(): string[] {
    try {
      return readdirSync(this.dir).filter((n) => /^[a-f0-9]{64}$/.test(n));
    } catch (e: any) {
      // none made yet; anything else (EACCES...) is an error, not "no containers"
      if (e?.code === "ENOENT") return [];
      throw new TspodError(`reading the containers in ${this.dir}: ${e?.code === "EACCES" ? "permission denied" : (e?.message ?? e)}`);
    }
  }

  load(id: string): Container | undefined {
    let config: ContainerConfig, state: ContainerState;
    try {
      config = JSON.parse(readFileSync(this.path(id, "config.json"), "utf8"));
    } catch {
      return undefined;
    }
    try {
      state = JSON.parse(readFileSync(this.path(id, "state.json"), "utf8"));
    } catch {
      // removed between the two reads (rm renames the directory away first), or
      // created without a state yet
      if (!existsSync(this.path(id, "config.json"))) return undefined;
      state = { status: "created", pid: 0, monitorPid: 0 };
    }
    const c = { config, state, dir: this.path(id) };
    try {
      return this.refresh(c);
    } catch (e) {
      // removed while we looked (the state's update found no directory)
      if (e instanceof NotFoundError || !existsSync(this.path(id, "config.json"))) return undefined;
      throw e;
    }
  }

  exitRecord(id: string): ExitRecord | undefined {
    try {
      return JSON.parse(readFileSync(this.path(id, "exit.json"), "utf8"));
    } catch {
      return undefined;
    }
  }

  /** The monitor's own record of the run it started (see report_ready in native/monitor.c). */
  startedRecord(id: string): { pid: number; monitor_pid: number; started_at: string } | undefined {
    try {
      return JSON.parse(readFileSync(this.path(id, "started.json"), "utf8"));
    } catch {
      return undefined;
    }
  }

  /** Fix the state from what is really there (monitor gone, exit recorded). */
  private refresh(c: Container): Container {
    const s = c.state;
    if (s.status === "created" || s.status === "exited") {
      // A run its CLI never recorded (killed after the monitor started it): the
      // monitor's started.json says it is there; it runs, or ran and ended.
      const st = this.startedRecord(c.config.id);
      if (!st || st.started_at === s.startedAt) return c;
      const exit = this.exitRecord(c.config.id);
      return this.updateState(c.config.id, (cur) => {
        if (cur.startedAt === st.started_at) return cur;
        const run = { ...cur, pid: st.pid, monitorPid: st.monitor_pid, startedAt: st.started_at, exitCode: undefined, stoppedPids: undefined };
        if (exit) return ended(run, exit);
        if (pidAlive(st.pid) || pidAlive(st.monitor_pid)) return { ...run, status: "running", finishedAt: undefined, error: undefined };
        return ended(run);
      });
    }
    if (s.status !== "running" && s.status !== "paused" && s.status !== "stopping") return c;
    const exit = this.exitRecord(c.config.id);
    if (exit) return this.updateState(c.config.id, (st) => ended(st, exit));
    // The monitor died before it could record anything: the process is gone, its code unknown.
    if (!pidAlive(s.pid) && !pidAlive(s.monitorPid)) return this.updateState(c.config.id, (st) => ended(st));
    return c;
  }

  // Container files are written atomically (temp + rename) but not fsynced: after
  // a power loss a container is garbage anyway, and fsync costs milliseconds per run.
  saveConfig(cfg: ContainerConfig): void {
    writeJsonAtomic(this.path(cfg.id, "config.json"), cfg, 0o600, false);
  }

  /** Read-modify-write the state under the container's lock. */
  updateState(id: string, fn: (s: ContainerState) => ContainerState): Container {
    // Never recreate a container directory that rm took away meanwhile: the lock
    // and the state file are only written into a directory that exists.
    if (!existsSync(this.path(id, "config.json"))) throw new NotFoundError(`no container with ID "${id}" found: no such container`);
    return withLockSync(this.lockPath(id), () => {
      let cur: ContainerState;
      try {
        cur = JSON.parse(readFileSync(this.path(id, "state.json"), "utf8"));
      } catch {
        cur = { status: "created", pid: 0, monitorPid: 0 };
      }
      const next = fn(cur);
      writeJsonAtomic(this.path(id, "state.json"), next, 0o600, false, false);
      const config = JSON.parse(readFileSync(this.path(id, "config.json"), "utf8"));
      return { config, state: next, dir: this.path(id) };
    }, false, false);
  }

  list(): Container[] {
    return this.ids()
      .map((id) => this.load(id))
      .filter((c): c is Container => !!c)
      .sort((a, b) => (a.config.created < b.config.created ? 1 : -1));
  }

  /** By full ID, unique ID prefix, or name. */
  lookup(input: string): Container {
    const c = this.find(input);
    if (!c) throw new NotFoundError(`no container with name or ID "${input}" found: no such container`);
    return c;
  }

  find(input: string): Container | undefined {
    if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(input)) {
      const owner = this.nameOwner(input);
      if (owner) {
        const c = this.load(owner);
        if (c) return c;
      }
    }
    if (/^[a-f0-9]{1,64}$/.test(input)) {
      const hits = this.ids().filter((id) => id.startsWith(input));
      if (hits.length > 1) throw new TspodError(`more than one container matches "${input}": use more characters of the ID`);
      if (hits.length === 1) return this.load(hits[0]);
    }
    return undefined;
  }

  /** Every container's config as stored (not refreshed: for who uses an image or a volume), with its ID. */
  private *configs(): Generator<[string, ContainerConfig]> {
    for (const id of this.ids()) {
      let cfg: ContainerConfig;
      try {
        cfg = JSON.parse(readFileSync(this.path(id, "config.json"), "utf8"));
      } catch {
        continue; // (one removed meanwhile, or not made whole yet)
      }
      yield [id, cfg];
    }
  }

  /** The containers (IDs) that mount a named volume. */
  volumeUsers(name: string): string[] {
    return [...this.configs()].filter(([, cfg]) => cfg.mounts.some((m) => m.volume === name)).map(([id]) => id);
  }

  /** Every volume some container mounts (one pass, for a filter over many volumes). */
  volumesInUse(): Set<string> {
    return new Set([...this.configs()].flatMap(([, cfg]) => cfg.mounts.flatMap((m) => (m.volume ? [m.volume] : []))));
  }

  /** The containers (IDs) made from an image (rmi refuses it). */
  usersOf(imageId: string): string[] {
    return [...this.configs()].filter(([, cfg]) => cfg.image.id === imageId).map(([id]) => id);
  }
}

/** The k8s-file log: "<RFC3339Nano> <stream> <P|F> <text>". */
export interface LogLine {
  time: string;
  stream: "stdout" | "stderr";
  partial: boolean;
  text: string;
}

export function parseLogLine(line: string): LogLine | undefined {
  const a = line.indexOf(" ");
  const b = line.indexOf(" ", a + 1);
  const c = line.indexOf(" ", b + 1);
  if (a < 0 || b < 0 || c < 0) return undefined;
  const stream = line.slice(a + 1, b);
  if (stream !== "stdout" && stream !== "stderr") return undefined;
  return { time: line.slice(0, a), stream, partial: line.slice(b + 1, c) === "P", text: line.slice(c + 1) };
}

function readFirstLine(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").split("\n")[0].trim() || undefined;
  } catch {
    return undefined;
  }
}
