// cgroups where this user may use them: root on v1 (or hybrid) and v2. A
// rootless user needs a delegated cgroup v2 subtree, which hosts without
// systemd do not give; then limits are refused and stats come from /proc.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TspodError } from "../errors.ts";
import { probeCgroups, type CgroupInfo } from "../sys/host.ts";
import type { ContainerConfig } from "./record.ts";

export interface CgroupPlan {
  version: "v1" | "v2";
  /** per controller (v1) or the one unified dir (v2) */
  dirs: Record<string, string>;
}

function v1Mounts(): Record<string, string> {
  const out: Record<string, string> = {};
  let text = "";
  try {
    text = readFileSync("/proc/self/mounts", "utf8");
  } catch {}
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f[2] !== "cgroup") continue;
    for (const o of f[3].split(",")) if (["memory", "cpu", "pids", "freezer"].includes(o)) out[o] = f[1];
  }
  return out;
}

/** Where a container's cgroups go, or undefined when this user cannot have them. */
export function cgroupPlan(id: string, info: CgroupInfo = probeCgroups()): CgroupPlan | undefined {
  if (!info.usable || process.getuid!() !== 0) return undefined;
  if (info.version === "v2") return { version: "v2", dirs: { unified: join("/sys/fs/cgroup/tspod", id) } };
  const m = v1Mounts();
  const dirs: Record<string, string> = {};
  for (const [ctrl, mount] of Object.entries(m)) dirs[ctrl] = join(mount, "tspod", id);
  return Object.keys(dirs).length ? { version: "v1", dirs } : undefined;
}

/** Refuse limits clearly where they cannot be applied. */
export function checkLimits(res: ContainerConfig["resources"], plan: CgroupPlan | undefined, info: CgroupInfo): void {
  if (!Object.keys(res).length) return;
  if (!plan) {
    throw new TspodError(`resource limits (--memory, --cpus, --pids-limit) need cgroups this user may manage: ${info.reason ?? (process.getuid!() !== 0 ? "rootless needs a delegated cgroup v2 subtree" : "no usable cgroup")}`);
  }
  if (plan.version === "v1") {
    if (res.memory !== undefined && !plan.dirs.memory) throw new TspodError("--memory: no memory cgroup controller is mounted");
    if (res.cpus !== undefined && !plan.dirs.cpu) throw new TspodError("--cpus: no cpu cgroup controller is mounted");
    if (res.pidsLimit !== undefined && !plan.dirs.pids) throw new TspodError("--pids-limit: no pids cgroup controller is mounted");
  }
}

function write(dir: string, file: string, value: string): void {
  try {
    writeFileSync(join(dir, file), value);
  } catch (e: any) {
    throw new TspodError(`cgroup ${join(dir, file)} = ${value}: ${e.code ?? e.message}`);
  }
}

/** Create the cgroups and write the limits; returns the cgroup.procs files to join. */
export function createCgroups(plan: CgroupPlan, res: ContainerConfig["resources"]): string[] {
  if (plan.version === "v2") {
    const dir = plan.dirs.unified;
    const parent = join(dir, "..");
    mkdirSync(parent, { recursive: true });
    for (const p of ["/sys/fs/cgroup", parent]) {
      try {
        writeFileSync(join(p, "cgroup.subtree_control"), "+memory +pids +cpu");
      } catch {}
    }
    mkdirSync(dir, { recursive: true });
    if (res.memory !== undefined) write(dir, "memory.max", String(res.memory));
    if (res.pidsLimit !== undefined) write(dir, "pids.max", res.pidsLimit > 0 ? String(res.pidsLimit) : "max");
    if (res.cpus !== undefined) write(dir, "cpu.max", `${Math.round(res.cpus * 100000)} 100000`);
    return [join(dir, "cgroup.procs")];
  }
  const procs: string[] = [];
  for (const [ctrl, dir] of Object.entries(plan.dirs)) {
    mkdirSync(dir, { recursive: true });
    procs.push(join(dir, "cgroup.procs"));
    if (ctrl === "memory" && res.memory !== undefined) {
      write(dir, "memory.limit_in_bytes", String(res.memory));
      try {
        writeFileSync(join(dir, "memory.memsw.limit_in_bytes"), String(res.memory));
      } catch {}
    }
    if (ctrl === "pids" && res.pidsLimit !== undefined) write(dir, "pids.max", res.pidsLimit > 0 ? String(res.pidsLimit) : "max");
    if (ctrl === "cpu" && res.cpus !== undefined) {
      write(dir, "cpu.cfs_period_us", "100000");
      write(dir, "cpu.cfs_quota_us", String(Math.round(res.cpus * 100000)));
    }
  }
  return procs;
}

export function removeCgroups(plan: CgroupPlan | undefined): void {
  if (!plan) return;
  for (const dir of Object.values(plan.dirs)) {
    try {
      if (existsSync(dir)) rmdirSync(dir);
    } catch {}
  }
}

/** Freeze or thaw through the freezer (v1) or cgroup.freeze (v2); false when there is none. */
export function freeze(plan: CgroupPlan | undefined, frozen: boolean): boolean {
  if (!plan) return false;
  try {
    if (plan.version === "v2") writeFileSync(join(plan.dirs.unified, "cgroup.freeze"), frozen ? "1" : "0");
    else if (plan.dirs.freezer) writeFileSync(join(plan.dirs.freezer, "freezer.state"), frozen ? "FROZEN" : "THAWED");
    else return false;
    return true;
  } catch {
    return false;
  }
}

