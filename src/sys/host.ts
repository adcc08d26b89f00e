// Host probes: facts about this machine found by trying, not guessing.
import { accessSync, constants, openSync, closeSync, readFileSync, statSync, mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { join, delimiter } from "node:path";
import { helperPath } from "./native.ts";
import { buildIdMap, idMapSpec, type IdRange } from "./idmap.ts";

export function which(cmd: string): string | undefined {
  for (const dir of (process.env.PATH || "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(delimiter)) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {}
  }
  return undefined;
}

export interface Check {
  ok: boolean;
  error?: string;
}

export interface KernelProbe {
  userns: Check;
  idmap: Check;
  mountns: Check;
  chown_subid: Check;
  whiteout_mknod: Check;
  overlay_userns: Check;
}

/** Runs the native probe in a scratch directory on the storage filesystem. */
export function probeKernel(storageRoot: string, subuid: IdRange[], subgid: IdRange[]): KernelProbe {
  const uid = process.getuid!(), gid = process.getgid!();
  const scratchParent = join(storageRoot, "tmp");
  mkdirSync(scratchParent, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(join(scratchParent, "probe-"));
  try {
    const args = [helperPath(), "probe", dir];
    if (uid !== 0 && subuid.length && subgid.length) {
      args.push(idMapSpec(buildIdMap(uid, subuid)), idMapSpec(buildIdMap(gid, subgid)));
    }
    const r = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
    if (r.exitCode !== 0) {
      const err = r.stderr.toString().trim() || `exit ${r.exitCode}`;
      const bad = { ok: false, error: err };
      return { userns: bad, idmap: bad, mountns: bad, chown_subid: bad, whiteout_mknod: bad, overlay_userns: bad };
    }
    const res = JSON.parse(r.stdout.toString()) as KernelProbe;
    if (uid === 0) res.idmap = res.chown_subid = { ok: true };
    return res;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Opening a device read-write is the real test of whether fuse or tun can be used. */
export function deviceUsable(path: string): Check {
  try {
    closeSync(openSync(path, "r+"));
    return { ok: true };
  } catch (e: any) {
    return { ok: false, error: `${path}: ${e.code ?? e.message}` };
  }
}

export interface CgroupInfo {
  version: "v1" | "v2" | "hybrid" | "none";
  /** whether this user can create a cgroup for a container (limits, stats, freezer) */
  usable: boolean;
  controllers: string[];
  reason?: string;
  /** this process' cgroup path in the unified hierarchy or the memory v1 controller */
  path?: string;
}

function mounts(): { fstype: string; target: string; opts: string }[] {
  let text = "";
  try {
    text = readFileSync("/proc/self/mounts", "utf8");
  } catch {}
  return text.split("\n").filter(Boolean).map((l) => {
    const f = l.split(" ");
    return { target: f[1].replace(/\\040/g, " "), fstype: f[2], opts: f[3] };
  });
}

function writable(p: string): boolean {
  try {
    accessSync(p, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

export function probeCgroups(): CgroupInfo {
  const m = mounts();
  const v2root = m.find((x) => x.fstype === "cgroup2" && x.target === "/sys/fs/cgroup");
  const v1 = m.filter((x) => x.fstype === "cgroup");
  const self = (() => {
    try {
      return readFileSync("/proc/self/cgroup", "utf8").split("\n").filter(Boolean);
    } catch {
      return [] as string[];
    }
  })();
  if (v2root) {
    const rel = self.find((l) => l.startsWith("0::"))?.slice(3) ?? "/";
    const dir = join("/sys/fs/cgroup", rel);
    let controllers: string[] = [];
    try {
      controllers = readFileSync(join(dir, "cgroup.controllers"), "utf8").trim().split(/\s+/).filter(Boolean);
    } catch {}
    const usable = writable(dir) && writable(join(dir, "cgroup.procs"));
    return { version: "v2", usable, controllers, path: dir, reason: usable ? undefined : `${dir} is not writable by this user (no delegation)` };
  }
  if (v1.length) {
    const controllers = v1.flatMap((x) => x.opts.split(",").filter((o) => !["rw", "ro", "relatime", "nosuid", "nodev", "noexec"].includes(o) && !o.startsWith("name=")));
    const hybrid = m.some((x) => x.fstype === "cgroup2");
    const memLine = self.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
    const rel = memLine ? memLine.split(":")[2] : "/";
    const memMount = v1.find((x) => x.opts.split(",").includes("memory"));
    const dir = memMount ? join(memMount.target, rel) : undefined;
    const usable = !!dir && writable(dir);
    return {
      version: hybrid ? "hybrid" : "v1",
      usable,
      controllers: [...new Set(controllers)].sort(),
      path: dir,
      reason: usable ? undefined : dir ? `${dir} is not writable by this user` : "no memory controller mounted",
    };
  }
  return { version: "none", usable: false, controllers: [], reason: "no cgroup filesystem mounted" };
}
