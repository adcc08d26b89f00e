// Test harness: runs the compiled binary (copied alone into an empty directory)
// as root or as the non-root test user, each with its own temporary store.
import { afterAll, afterEach, expect } from "bun:test";
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

export const TOP = resolve(import.meta.dir, "../..");
export const STATE = process.env.TSPOD_TEST_STATE ?? "/var/tmp/tspod-test";

/** KEY=VALUE from the test environment (test/env/setup.sh). */
export function loadEnv(): Record<string, string> {
  const out: Record<string, string> = {};
  const text = readFileSync(join(STATE, "env"), "utf8");
  for (const line of text.split("\n")) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2].replace(/^"(.*)"$/, "$1").replace(/^'(.*)'$/, "$1");
  }
  return out;
}

export const ENV = loadEnv();
export const REGISTRY = ENV.REGISTRY;

/** Manifest digests of the fixtures, as pushed (and recorded) by the setup. */
export function fixtureDigests(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(join(STATE, "digests"), "utf8").split("\n")) {
    const i = line.indexOf("=");
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

const madeDirs: string[] = [];

/** A new directory /tmp/PREFIXxxxxxx, removed after the test file's tests (with its sandboxes). */
export function tempDir(prefix: string): string {
  const d = mkdtempSync(`/tmp/${prefix}`);
  madeDirs.push(d);
  return d;
}

let binCopy: string | undefined;
/** dist/tspod copied alone into an empty, world-readable directory. */
export function binary(): string {
  if (binCopy) return binCopy;
  const src = join(TOP, "dist/tspod");
  if (!existsSync(src)) throw new Error("dist/tspod is missing: run `bun run build` first");
  // one per test process (bun test runs every file in one); those of finished runs go
  for (const n of readdirSync("/tmp")) {
    const pid = /^tspod-bin-(\d+)$/.exec(n)?.[1];
    if (pid && !existsSync(`/proc/${pid}`)) rmSync(`/tmp/${n}`, { recursive: true, force: true });
  }
  const dir = `/tmp/tspod-bin-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  binCopy = join(dir, "tspod");
  copyFileSync(src, binCopy);
  chmodSync(binCopy, 0o755);
  return binCopy;
}

export type Mode = "root" | "rootless";
export const MODES: Mode[] = ["root", "rootless"];

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string;
  env?: Record<string, string>;
  /** skip --root/--runroot (to test defaults) */
  noStoreFlags?: boolean;
  /** working directory (default /) */
  cwd?: string;
  timeoutMs?: number;
}

/** A store (root + runroot) owned by the mode's user, removed by cleanup(). */
export class Sandbox {
  readonly dir: string;
  readonly root: string;
  readonly runroot: string;
  readonly home: string;
  readonly uid: number;
  readonly gid: number;

  constructor(readonly mode: Mode) {
    this.uid = mode === "root" ? 0 : Number(ENV.TEST_UID);
    this.gid = mode === "root" ? 0 : Number(ENV.TEST_GID);
    this.dir = mkdtempSync(`/tmp/tspod-test-${mode}-`);
    this.root = join(this.dir, "root");
    this.runroot = join(this.dir, "run");
    this.home = join(this.dir, "home");
    for (const d of [this.root, this.home]) mkdirSync(d, { recursive: true });
    mkdirSync(this.runroot, { recursive: true, mode: 0o700 });
    chmodSync(this.dir, 0o755);
    for (const d of [this.dir, this.root, this.runroot, this.home]) chownSync(d, this.uid, this.gid);
  }

  /** argv to run a command as this sandbox's user. */
  wrap(argv: string[], env: Record<string, string> = {}): string[] {
    const base = {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOME: this.home,
      XDG_RUNTIME_DIR: this.runroot,
      XDG_CONFIG_HOME: join(this.home, ".config"),
      LANG: "C.UTF-8",
      ...env,
    };
    const envArgs = Object.entries(base).map(([k, v]) => `${k}=${v}`);
    if (this.mode === "root") return ["env", "-i", ...envArgs, ...argv];
    return ["setpriv", `--reuid=${this.uid}`, `--regid=${this.gid}`, "--init-groups", "--reset-env", "env", "-i", ...envArgs, ...argv];
  }

  tspodArgs(args: string[], opts: RunOptions = {}): string[] {
    const store = opts.noStoreFlags ? [] : ["--root", this.root, "--runroot", this.runroot];
    return this.wrap([binary(), ...store, ...args], opts.env);
  }

  async run(args: string[], opts: RunOptions = {}): Promise<Result> {
    const p = Bun.spawn(this.tspodArgs(args, opts), {
      stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
      stdout: "pipe",
      stderr: "pipe",
      cwd: opts.cwd ?? "/",
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    return { code, stdout, stderr };
  }

  /** Run and require exit 0; returns stdout. */
  async ok(args: string[], opts: RunOptions = {}): Promise<string> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw new Error(`tspod ${args.join(" ")} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  }

  /** IDs of all containers (ps -aq). */
  async ps(): Promise<string[]> {
    return (await this.ok(["ps", "-aq"])).split("\n").filter(Boolean);
  }

  /** Any command as this sandbox's user (for independent checks). */
  async sh(script: string): Promise<Result> {
    const p = Bun.spawn(this.wrap(["sh", "-c", script]), { stdout: "pipe", stderr: "pipe", cwd: "/" });
    const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    return { code, stdout, stderr };
  }

  /** Every pod and container of this store removed (stopped at once). */
  removeAll(): void {
    Bun.spawnSync(this.tspodArgs(["pod", "rm", "-f", "-a", "-t", "0"]));
    Bun.spawnSync(this.tspodArgs(["rm", "-f", "-a", "-t", "0"]));
  }

  cleanup(): void {
    // Root may remove files owned by subordinate ids.
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** skopeo as an independent client of the test registry. */
export function skopeo(args: string[]): string {
  const r = Bun.spawnSync(["skopeo", ...args], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`skopeo ${args.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/**
 * After each test of the block that calls this, the sandbox's pods and
 * containers are removed: a test that fails half-way leaves nothing running
 * for the next ones to trip on (one failure, not a cascade of them). The
 * tests check their own clean-up themselves.
 */
export function cleanEach(b: Sandbox): void {
  afterEach(() => b.removeAll());
}

/**
 * Sandboxes for one test file: made on demand; after the file, their
 * containers are removed and their directories deleted.
 */
export function sandboxes(): (mode: Mode) => Sandbox {
  const made: Sandbox[] = [];
  afterAll(() => {
    for (const d of madeDirs.splice(0)) rmSync(d, { recursive: true, force: true });
    for (const b of made) {
      b.removeAll();
      b.cleanup();
    }
  });
  return (mode) => {
    const b = new Sandbox(mode);
    made.push(b);
    return b;
  };
}

/** The `Error...` lines of a command's stderr. */
export const errorLines = (r: Result): string[] => r.stderr.split("\n").filter((l) => l.startsWith("Error"));

/** One clear line: exactly one `Error:` line, exit 125. */
export function expectOneError(r: Result, re: RegExp): void {
  expect(r.code).toBe(125);
  const errs = errorLines(r);
  expect(errs.length).toBe(1);
  expect(errs[0]).toMatch(/^Error: /);
  expect(errs[0]).toMatch(re);
}
