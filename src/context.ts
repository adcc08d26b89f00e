// Where tspod keeps things, resolved once per invocation from flags and XDG.
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { chmodSync, mkdirSync, statSync } from "node:fs";
import { TspodError } from "./errors.ts";
import { writeErr } from "./output.ts";

export type LogLevel = "debug" | "info" | "warn" | "error";

export interface GlobalOptions {
  root?: string;
  runroot?: string;
  logLevel?: LogLevel;
  storageDriver?: string;
}

export interface Context {
  uid: number;
  gid: number;
  rootless: boolean;
  /** persistent data: images, layers, containers */
  root: string;
  /** runtime state: locks, sockets, materialised helpers */
  runroot: string;
  /** true when runroot came from a fallback (XDG_RUNTIME_DIR unset) */
  runrootFallback: boolean;
  logLevel: LogLevel;
  storageDriver?: string;
}

const LEVELS: LogLevel[] = ["debug", "info", "warn", "error"];

export function parseLogLevel(v: string | undefined): LogLevel {
  if (!v) return "warn";
  const l = v.toLowerCase() as LogLevel;
  if (!LEVELS.includes(l)) throw new TspodError(`invalid --log-level "${v}": use one of ${LEVELS.join(", ")}`);
  return l;
}

/** The runtime directory: $XDG_RUNTIME_DIR/tspod, else /run/user/UID/tspod when it is ours, else /tmp/tspod-UID. */
export function defaultRunroot(uid: number): { path: string; fallback: boolean } {
  if (uid === 0) return { path: "/run/tspod", fallback: false };
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg && ownedDir(xdg, uid)) return { path: join(xdg, "tspod"), fallback: false };
  const run = `/run/user/${uid}`;
  if (ownedDir(run, uid)) return { path: join(run, "tspod"), fallback: true };
  return { path: `/tmp/tspod-${uid}`, fallback: true };
}

/** A directory that exists and belongs to uid. */
export function ownedDir(p: string, uid: number): boolean {
  try {
    const st = statSync(p);
    return st.isDirectory() && st.uid === uid;
  } catch {
    return false;
  }
}

export function defaultRoot(uid: number): string {
  if (uid === 0) return "/var/lib/tspod";
  const xdg = process.env.XDG_DATA_HOME;
  const base = xdg && xdg.startsWith("/") ? xdg : join(process.env.HOME || homedir(), ".local/share");
  return join(base, "tspod");
}

let current: Context | undefined;

export function makeContext(opts: GlobalOptions = {}): Context {
  const uid = process.getuid!();
  const gid = process.getgid!();
  const rr = opts.runroot ? { path: opts.runroot, fallback: false } : defaultRunroot(uid);
  // Absolute, as Podman makes them: the monitor and the helpers work from other
  // directories, and paths are written into container records.
  current = {
    uid,
    gid,
    rootless: uid !== 0,
    // an empty --root (or TSPOD_ROOT) is the default, as in Podman, not the working directory
    root: resolve(opts.root || process.env.TSPOD_ROOT || defaultRoot(uid)),
    runroot: resolve(rr.path),
    runrootFallback: rr.fallback,
    logLevel: opts.logLevel ?? "warn",
    storageDriver: opts.storageDriver ?? process.env.TSPOD_STORAGE_DRIVER,
  };
  if (!opts.runroot && process.env.TSPOD_RUNROOT) current.runroot = resolve(process.env.TSPOD_RUNROOT);
  return current;
}

export function ctx(): Context {
  return current ?? makeContext();
}

/** Create the runtime dir 0700 and make sure nobody else owns it (a /tmp fallback could be pre-made by another user). */
export function ensureRunroot(c: Context = ctx()): string {
  mkdirSync(c.runroot, { recursive: true, mode: 0o700 });
  const st = statSync(c.runroot);
  if (st.uid !== c.uid) throw new TspodError(`runtime directory ${c.runroot} is owned by uid ${st.uid}, not ${c.uid}`);
  // Ours but open to others (made by hand, say): ours to close, as Podman uses it as it is.
  if ((st.mode & 0o077) !== 0) chmodSync(c.runroot, 0o700);
  return c.runroot;
}

export function log(level: LogLevel, msg: string): void {
  const c = ctx();
  if (LEVELS.indexOf(level) < LEVELS.indexOf(c.logLevel)) return;
  writeErr(`${level.toUpperCase()}[tspod] ${msg}\n`);
}

const tracing = !!process.env.TSPOD_TRACE;
/**
 * TSPOD_TRACE=1 prints milliseconds since the process started (performance's
 * time origin, as the helper's lines are shown) and the page faults so far
 * (each first touch of a page costs ~11 us on a shadow-paged VM) at marked
 * points, for tuning start-up and pulls.
 */
export function trace(what: string): void {
  if (tracing) writeErr(`[trace ${performance.now().toFixed(1)}ms ${process.resourceUsage().minorPageFault}pf] ${what}\n`);
}

let jitNormal = false;
/**
 * The binary starts with a JIT policy that keeps run-once start-up code in the
 * interpreter (scripts/build.ts); work that turns out long or heavy (a big
 * layer, a stream of output, logs -f) gets the normal JIT back.
 */
export function longRunning(): void {
  if (jitNormal) return;
  jitNormal = true;
  try {
    (Bun as any).unsafe?.setJITPolicy?.(1);
  } catch {}
}

/** A warning shown once per runtime directory (i.e. once per boot), not at every run. */
export function warnOnce(key: string, msg: string): void {
  const c = ctx();
  const marker = `${c.runroot}/warned-${key}`;
  try {
    require("node:fs").writeFileSync(marker, "", { flag: "wx" });
  } catch {
    return;
  }
  log("warn", msg);
}
