// Container lifecycle without a daemon: start hands the container to its
// monitor (native/monitor.c, double-forked, so the CLI may exit or die), and
// every other operation reads and fixes state on disk.
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, openSync, readSync, closeSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../context.ts";
import { ensureRunroot, log, trace } from "../context.ts";
import { startErrorCode, TspodError } from "../errors.ts";
import { helperPath } from "../sys/native.ts";
import { preloadLibc } from "../sys/libc.ts";
import { FileLock } from "../storage/lock.ts";
import { Store } from "../storage/store.ts";
import { VolumeStore } from "../storage/volumes.ts";
import { cgroupPlan, freeze, removeCgroups } from "./cgroups.ts";
import { ContainerStore, isUp, pidAlive, parseLogLine, type Container, type LogLine } from "./record.ts";
import { killStrayHelper, renameInOwnHosts, specNetLazy } from "../network/setup.ts";
import { AttachClient } from "./attach.ts";
import { PodStore } from "../network/pods.ts";

export interface StartResult {
  pid: number;
  monitorPid: number;
}

/** argv that runs this tspod binary again (compiled: the binary; dev: bun + script). */
export function selfArgv(ctx: Context): string[] {
  const exe = process.execPath;
  const base = /(^|\/)bun$/.test(exe) ? [exe, Bun.main] : [exe];
  return [...base, "--root", ctx.root, "--runroot", ctx.runroot];
}

export const SIGNALS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19,
  SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

export function parseSignal(s: string): number {
  const up = s.toUpperCase();
  if (/^\d+$/.test(up) && Number(up) > 0 && Number(up) < 65) return Number(up);
  const n = SIGNALS[up.startsWith("SIG") ? up : `SIG${up}`];
  if (!n) throw new TspodError(`invalid signal: ${s}`);
  return n;
}

/** A signal as SIGNAME (SIGUSR1 for "usr1", "10" or "SIGUSR1"); one without a name (real-time) as its number. */
export function signalName(s: string): string {
  const n = parseSignal(s);
  return Object.keys(SIGNALS).find((k) => SIGNALS[k] === n) ?? String(n);
}

/** The container went away while waited for (removed by --rm), its exit code not kept. */
export class RemovedError extends TspodError {}
/** start of a container that runs: Podman's start (without --attach) takes that as done. */
export class AlreadyRunningError extends TspodError {}

export class Lifecycle {
  readonly store: ContainerStore;
  constructor(readonly ctx: Context) {
    this.store = new ContainerStore(ctx);
  }

  /**
   * Start a created (or exited) container under a new monitor. With attach, the
   * container waits at its start gate until the caller sends START over the socket.
   */
  async start(c: Container, opts: { attach: boolean; stdin: boolean }, fresh = false): Promise<StartResult> {
    // Several starts at once (or start and restart): one starts it, the others find
    // it running. Under the container's start lock, its state is read again. Not
    // for the one run that has just created it (fresh): nothing else has started it,
    // and the lock's libc load would come before the monitor's spawn.
    if (fresh) return this.startLocked(c, opts);
    const lock = new FileLock(join(c.dir, "start.lock"), false).lock();
    try {
      const now = this.store.load(c.config.id);
      if (!now) throw new TspodError(`no container with name or ID "${c.config.name}" found`);
      return await this.startLocked(now, opts);
    } finally {
      lock.unlock();
      lock.close();
    }
  }

  private async startLocked(c: Container, opts: { attach: boolean; stdin: boolean }): Promise<StartResult> {
    if (isUp(c)) throw new AlreadyRunningError(`container ${c.config.name} is already running`);
    const id = c.config.id;
    const joinPid = await this.networkOwnerPid(c);
    const sock = this.store.sockPath(id);
    mkdirSync(join(ensureRunroot(this.ctx), "sock"), { recursive: true, mode: 0o700 });
    rmSync(sock, { force: true });
    rmSync(this.store.path(id, "exit.json"), { force: true });
    rmSync(this.store.path(id, "started.json"), { force: true });
    const args = [
      "monitor",
      "--spec", this.store.path(id, "spec"),
      "--dir", c.dir,
      "--sock", sock,
      "--log", this.store.path(id, "ctr.log"),
      ...(c.config.tty ? ["--tty"] : []),
      ...(opts.stdin ? ["--stdin"] : []),
      ...(opts.attach ? [] : ["--start-now"]),
      ...(joinPid ? ["--join-pid", String(joinPid)] : []),
      "--trash", this.trashPath(id),
      "--exit-cmd", ...selfArgv(this.ctx), "container", "cleanup", id,
    ];
    trace("start: spawning monitor");
    // Bun.spawn: node:child_process's spawn costs ~3 ms more here (measured).
    const p = Bun.spawn([helperPath(), ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    preloadLibc(); // for the state update below, while the monitor works
    const [out, errText, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    if (code !== 0 && !out.trim()) throw new TspodError(errText.trim() || `monitor exited ${code}`);
    let r: any;
    try {
      r = JSON.parse(out.trim().split("\n").pop() ?? "");
    } catch {
      throw new TspodError(`monitor for ${c.config.name} said: ${out.trim() || "nothing"}`);
    }
    if (r.error) {
      const code = startErrorCode(r.stage, r.errno);
      try {
        // (a --rm container may be gone already: the monitor ran its cleanup before it answered)
        // nothing of it ran when its network could not be set up (a port taken): still
        // created, as Podman leaves it; else it ended with the code said
        this.store.updateState(id, (s) => (r.stage === "network" ? { ...s, status: "created", error: r.error } : { ...s, status: "exited", exitCode: code, error: r.error, finishedAt: new Date().toISOString() }));
      } catch {}
      throw new TspodError(r.error, code);
    }
    // (the monitor's time, as its started.json has it: see ContainerStore.refresh)
    this.store.updateState(id, (s) => ({ ...s, status: "running", pid: r.pid, monitorPid: r.monitor_pid, startedAt: r.started_at ?? new Date().toISOString(), finishedAt: undefined, exitCode: undefined, error: undefined }));
    return { pid: r.pid, monitorPid: r.monitor_pid };
  }

  /**
   * container:ID and pod members: the pid whose network (and, rootless, user)
   * namespace the container joins. A pod's infra is started on demand; another
   * container must already run.
   */
  private async networkOwnerPid(c: Container): Promise<number | undefined> {
    if (!c.config.network.startsWith("container:")) return undefined;
    const targetId = c.config.network.slice("container:".length);
    let t = this.store.load(targetId);
    if (!t) throw new TspodError(`${c.config.name} shares the network of container ${targetId.slice(0, 12)}, which no longer exists`);
    if (t.state.status !== "running" && t.config.infra) {
      try {
        await this.start(t, { attach: false, stdin: false });
      } catch (e) {
        // another member may have started it at the same moment
        t = this.store.load(targetId);
        if (t?.state.status !== "running") throw e;
      }
      t = this.store.load(targetId);
    }
    if (!t || t.state.status !== "running") throw new TspodError(`cannot start ${c.config.name}: the container whose network it shares (${t?.config.name ?? targetId.slice(0, 12)}) is not running`);
    if (specNetLazy(this.store.path(t.config.id, "spec"))) await this.networkUp(t, c);
    return t.state.pid;
  }

  /**
   * A container whose pasta starts at its first socket (net.lazy): started now,
   * before c joins its network (c's processes are not the ones its monitor watches).
   */
  private async networkUp(t: Container, c: Container): Promise<void> {
    trace("start: network of the container joined");
    const why = await new Promise<string | undefined>((resolve) => {
      let settled = false;
      const done = (r: string | undefined) => {
        if (settled) return; // (close() below calls closed() at once)
        settled = true;
        clearTimeout(timer);
        resolve(r);
        client.close();
      };
      const timer = setTimeout(() => done("no answer from its monitor in 20 s"), 20_000);
      const client = new AttachClient(this.store.sockPath(t.config.id), {
        stdout() {},
        stderr() {},
        exit: () => done("it exited"),
        error: (_e, msg) => done(msg),
        // (a monitor that serves its 16 clients already takes a connection and closes it)
        closed: () => done(pidAlive(t.state.monitorPid) ? "its monitor closed the connection (it serves 16 clients at once: attach sessions?)" : "its monitor is gone"),
        network: () => done(undefined),
      });
      client.connect(2000).then(() => client.networkWanted(), (e) => done(`its monitor does not answer (${e?.code ?? e})`));
    });
    if (why) throw new TspodError(`cannot start ${c.config.name}: the network of ${t.config.name}, which it shares, cannot be set up: ${why}`);
  }

  /** Containers that share c's network namespace (container:c, pod members): <dir>/dependents/<id>, written at their create. */
  dependents(c: Container): Container[] {
    let ids: string[];
    try {
      ids = readdirSync(join(c.dir, "dependents"));
    } catch {
      return [];
    }
    return ids.map((id) => this.store.load(id)).filter((o): o is Container => !!o && o.config.network === `container:${c.config.id}`);
  }

  /** Wait until the container has exited; returns its exit code. */
  async wait(id: string, timeoutMs = Infinity): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let delay = 5;
    for (;;) {
      const c = this.store.load(id);
      if (!c) {
        // removed meanwhile (--rm): its code, kept for a while as Podman keeps it
        const kept = this.store.keptExit(id);
        if (kept !== undefined) return kept;
        throw new RemovedError(`container ${id} was removed`);
      }
      if (c.state.status === "exited" || c.state.status === "created") return c.state.exitCode ?? 0;
      if (Date.now() > deadline) throw new TspodError(`timed out waiting for ${c.config.name}`);
      await Bun.sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
  }

  kill(c: Container, sig: number): void {
    if (c.state.status !== "running" && c.state.status !== "paused") throw new TspodError(`can only kill running containers. ${c.config.id.slice(0, 12)} is in state ${c.state.status}: container state improper`);
    try {
      process.kill(c.state.pid, sig);
    } catch (e: any) {
      if (e.code !== "ESRCH") throw new TspodError(`kill ${c.config.name}: ${e.code}`);
    }
  }

  /** stop: the image's STOPSIGNAL (or SIGTERM), then SIGKILL after the timeout. */
  async stop(c: Container, timeoutSec?: number): Promise<void> {
    if (c.state.status !== "running" && c.state.status !== "paused") return;
    const t = timeoutSec ?? c.config.stopTimeout;
    if (c.state.status === "paused") await this.unpause(c);
    const sig = c.config.stopSignal || "SIGTERM";
    // -t 0: SIGKILL at once, as Podman (no stop signal, no warning)
    if (t > 0) {
      try {
        process.kill(c.state.pid, parseSignal(sig));
      } catch {}
      try {
        await this.wait(c.config.id, t * 1000);
        return;
      } catch (e) {
        if (e instanceof RemovedError) return; // stopped, and removed (--rm) already
      }
      log("warn", `StopSignal ${sig} failed to stop container ${c.config.name} in ${t} seconds, resorting to SIGKILL`);
    }
    try {
      process.kill(c.state.pid, "SIGKILL");
    } catch {}
    try {
      await this.wait(c.config.id, 10_000);
    } catch (e) {
      if (!(e instanceof RemovedError)) throw e;
    }
  }

  /** The freezer cgroup where there is one; else SIGSTOP every process of the container (its pid namespace). */
  async pause(c: Container): Promise<void> {
    if (c.state.status !== "running") throw new TspodError(`${c.config.name} is not running: container state improper`);
    if (freeze(cgroupPlan(c.config.id), true)) {
      this.store.updateState(c.config.id, (s) => ({ ...s, status: "paused", stoppedPids: [] }));
      return;
    }
    // again until no process is left running: one forked between the listing and
    // the signals would otherwise go on (as a freezer stops them all at once)
    const stopped = new Set<number>();
    for (let round = 0; round < 100; round++) {
      const fresh = containerPids(c.state.pid).filter((p) => !stopped.has(p));
      if (!fresh.length) break;
      for (const p of fresh) {
        try {
          process.kill(p, "SIGSTOP");
        } catch {}
        stopped.add(p);
      }
    }
    const pids = [...stopped];
    this.store.updateState(c.config.id, (s) => ({ ...s, status: "paused", stoppedPids: pids }));
  }

  async unpause(c: Container): Promise<void> {
    if (c.state.status !== "paused") throw new TspodError(`${c.config.name} is not paused: container state improper`);
    freeze(cgroupPlan(c.config.id), false);
    for (const p of c.state.stoppedPids ?? containerPids(c.state.pid)) {
      try {
        process.kill(p, "SIGCONT");
      } catch {}
    }
    this.store.updateState(c.config.id, (s) => ({ ...s, status: "running", stoppedPids: undefined }));
  }

  /** Why c cannot be removed by rm (an infra container, one others depend on), or undefined. */
  unremovable(c: Container): string | undefined {
    const deps = this.dependents(c);
    if (deps.length && c.config.infra) return `${c.config.name} is the infra container of pod ${c.config.pod?.slice(0, 12)}, which has containers: remove the pod instead (tspod pod rm -f)`;
    if (deps.length) return `container ${c.config.name} has dependent containers which must be removed first: ${deps.map((d) => d.config.name).join(", ")}`;
    if (c.config.infra) return `${c.config.name} is the infra container of pod ${c.config.pod?.slice(0, 12)} and cannot be removed without removing the pod (tspod pod rm)`;
    return undefined;
  }

  /** rm: refuse running containers unless force (then kill). Removes files and the name. */
  async remove(c: Container, force: boolean, opts: { podRemoval?: boolean; volumes?: boolean } = {}): Promise<void> {
    const live = c.state.status === "running" || c.state.status === "paused" || c.state.status === "stopping";
    // running without force first, as Podman (exit 2); then what rm never removes (exit 125)
    if (live && !force) throw new TspodError(`cannot remove container ${c.config.id} as it is ${c.state.status} - running or paused containers cannot be removed without force: container state improper`);
    const why = opts.podRemoval ? undefined : this.unremovable(c);
    if (why) throw new TspodError(why);
    if (live) {
      if (c.state.status === "paused") await this.unpause(c);
      try {
        process.kill(c.state.pid, "SIGKILL");
      } catch {}
      await this.wait(c.config.id, 10_000).catch(() => {});
      // let the monitor finish its exit work before the directory goes away (a loaded
      // machine can take more than a second: CI saw a monitor still there after rm)
      await this.monitorGone(c, 5000);
    }
    this.destroy(c, opts.volumes);
  }

  /** stop, then start again; a --rm container is kept meanwhile (as Podman's restart does). */
  async restart(c: Container, timeoutSec?: number): Promise<void> {
    const marker = join(c.dir, "restarting");
    writeFileSync(marker, `${process.pid}\n`);
    try {
      await this.stop(c, timeoutSec);
      // The old monitor records the exit and runs its exit command (a --rm container's
      // cleanup, put off by the marker) before the new one starts: its exit.json written
      // after the new start's would show the container exited, and a cleanup then removed
      // a restarted --rm container (CI saw it, under load).
      await this.monitorGone(c, 10_000);
      await this.start(this.store.lookup(c.config.id), { attach: false, stdin: c.config.interactive });
    } finally {
      rmSync(marker, { force: true });
    }
  }

  /** Until c's monitor (as its record had it) has exited, at most ms. */
  private async monitorGone(c: Container, ms: number): Promise<void> {
    for (let i = 0; i < ms / 10 && pidAlive(c.state.monitorPid); i++) await Bun.sleep(10);
  }

  private restarting(c: Container): boolean {
    try {
      return pidAlive(Number(readFileSync(join(c.dir, "restarting"), "utf8").trim()));
    } catch {
      return false;
    }
  }

  /** How a container ended, kept past its removal: a `wait` or `stop` under way (or soon) still learns it. */
  private keepExitOf(c: Container): void {
    const code = this.store.exitRecord(c.config.id)?.exitCode ?? (c.state.status === "exited" ? c.state.exitCode : undefined);
    if (code !== undefined) this.store.keepExit(c.config.id, code);
  }

  /** Where destroy() and discard() move a container's directory before its files are deleted. */
  trashPath(id: string): string {
    return join(this.ctx.root, "tmp", `trash-${id}`);
  }

  /** Remove a container's files (files in upper/ may belong to subordinate ids); volumes: its anonymous volumes too (rm -v). */
  destroy(c: Container, volumes = false): void {
    const id = c.config.id;
    trace("destroy: start");
    this.releaseNetwork(c);
    rmSync(this.store.sockPath(id), { force: true });
    this.keepExitOf(c);
    // One rename takes the directory away from every other process first (a
    // monitor's cleanup may be writing state at this moment); then delete it.
    const trash = this.trashPath(id);
    let dir = this.store.path(id);
    try {
      renameSync(dir, trash);
      dir = trash;
    } catch {}
    // overlayfs leaves work/work with mode 000; opening it up lets a plain rm do the job
    try {
      chmodSync(join(dir, "work", "work"), 0o700);
    } catch {}
    new Store(this.ctx).removeTree(dir);
    removeCgroups(cgroupPlan(id));
    trace("destroy: done");
    this.store.releaseName(c.config.name, id);
    if (volumes) this.removeAnonymousVolumes(c);
  }

  /**
   * The anonymous volumes a container mounts, gone with it (rm -v, --rm), as
   * Podman's: whichever container made one; one another container uses stays.
   */
  private removeAnonymousVolumes(c: Container): void {
    const names = c.config.mounts.filter((m) => m.volume).map((m) => m.volume!);
    if (!names.length) return;
    const vols = new VolumeStore(this.ctx);
    for (const n of names) {
      try {
        if (vols.get(n)?.Anonymous) vols.remove(n, (v) => this.store.volumeUsers(v));
      } catch (e) {
        log("warn", `anonymous volume ${n} of ${c.config.name} stays: ${(e as Error).message}`);
      }
    }
  }

  /**
   * Take a finished --rm container out of sight at once: its directory is
   * renamed into tmp/ (one rename) and the name released; the files are
   * deleted by the monitor, which runs right after, in the background: itself
   * when it can (see --trash in native/monitor.c), else with the exit command.
   */
  discard(c: Container): void {
    const id = c.config.id;
    // a restart under way keeps it (it runs again, detached; its monitor removes it at its end)
    if (this.restarting(c)) return;
    this.releaseNetwork(c);
    this.keepExitOf(c);
    const trash = this.trashPath(id);
    try {
      renameSync(this.store.path(id), trash);
    } catch {
      return this.destroy(c, true);
    }
    rmSync(this.store.sockPath(id), { force: true });
    this.store.releaseName(c.config.name, id);
    removeCgroups(cgroupPlan(id));
    this.removeAnonymousVolumes(c);
  }

  /** A helper whose monitor died goes too; a pod member leaves the pod's hosts file; a pod goes with its infra. */
  private releaseNetwork(c: Container): void {
    killStrayHelper(c.dir, c.config.id);
    if (c.config.infra && c.config.pod) {
      const pods = new PodStore(this.ctx);
      const pod = pods.load(c.config.pod);
      if (pod?.infraId === c.config.id) pods.remove(pod);
    }
    const owner = c.config.network.startsWith("container:") ? c.config.network.slice(10) : undefined;
    if (!owner) return;
    rmSync(this.store.path(owner, "dependents", c.config.id), { force: true });
    if (c.config.pod && !c.config.infra) {
      const pod = new PodStore(this.ctx).load(c.config.pod);
      if (pod) new PodStore(this.ctx).updateHosts(pod, this.store.path(owner, "userdata", "hosts"), c.config.name, undefined);
    }
  }

  /** After a rename: the name in /etc/hosts, the pod's shared one for a pod member, else the container's own. */
  renameInHosts(c: Container, newName: string): void {
    const owner = c.config.network.startsWith("container:") ? c.config.network.slice(10) : undefined;
    if (c.config.pod && !c.config.infra && owner) {
      const pods = new PodStore(this.ctx);
      const pod = pods.load(c.config.pod);
      if (!pod) return;
      const hosts = this.store.path(owner, "userdata", "hosts");
      pods.updateHosts(pod, hosts, c.config.name, undefined);
      pods.updateHosts(pod, hosts, newName, newName);
    } else if (!owner) renameInOwnHosts(this.store.path(c.config.id, "userdata", "hosts"), c.config.hostname, c.config.name, newName);
  }

  /** The monitor's exit command: --rm removal once the process is gone, and leftovers of discard(). */
  cleanup(id: string): void {
    const c = this.store.load(id);
    // --rm: removed once it has exited, unless a restart is under way (restart())
    if (c?.config.autoRemove && c.state.status === "exited" && !this.restarting(c)) this.destroy(c, true);
    const trash = this.trashPath(id);
    if (existsSync(trash)) {
      try {
        chmodSync(join(trash, "work", "work"), 0o700);
      } catch {}
      new Store(this.ctx).removeTree(trash);
    }
  }

  logPath(id: string): string {
    return this.store.path(id, "ctr.log");
  }
}

/** Every process in the container: the init's pid namespace members, found through /proc. */
export function containerPids(initPid: number): number[] {
  let ns: string;
  try {
    ns = require("node:fs").readlinkSync(`/proc/${initPid}/ns/pid`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const n of require("node:fs").readdirSync("/proc")) {
    if (!/^\d+$/.test(n)) continue;
    try {
      if (require("node:fs").readlinkSync(`/proc/${n}/ns/pid`) === ns) out.push(Number(n));
    } catch {}
  }
  // Processes in a child pid namespace of the container share no link; the init is always first.
  return out.sort((a, b) => (a === initPid ? -1 : b === initPid ? 1 : a - b));
}

/** Read the k8s-file log from a byte offset; returns the lines and the new offset. */
export function readLog(path: string, offset = 0): { lines: LogLine[]; offset: number } {
  if (!existsSync(path)) return { lines: [], offset };
  const size = statSync(path).size;
  if (size <= offset) return { lines: [], offset };
  const fd = openSync(path, "r");
  const buf = Buffer.alloc(size - offset);
  readSync(fd, buf, 0, buf.length, offset);
  closeSync(fd);
  const text = buf.toString("utf8");
  const end = text.lastIndexOf("\n");
  if (end < 0) return { lines: [], offset };
  const lines = text.slice(0, end).split("\n").map(parseLogLine).filter((l): l is LogLine => !!l);
  return { lines, offset: offset + Buffer.byteLength(text.slice(0, end + 1)) };
}

