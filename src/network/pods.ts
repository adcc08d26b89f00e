// Pods: containers that share one network namespace, held by an infra
// container (a pause process) that pasta/slirp4netns is attached to. Members
// reach each other on 127.0.0.1 and by name: the pod's /etc/hosts (the infra's,
// bind-mounted into every member) lists every member.
//   <root>/pods/<id>/pod.json   the pod (written once at create)
//   <root>/pods/<id>/lock       serialises changes to the pod's hosts file
//   <root>/pods/names/<name>    name reservations (link(2): unique under concurrency)
import { existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../context.ts";
import { NotFoundError, TspodError } from "../errors.ts";
import { writeJsonAtomic } from "../storage/atomic.ts";
import { withLockSync } from "../storage/lock.ts";
import type { PortMapping } from "./ports.ts";
import { rewriteInPlace } from "./setup.ts";

export interface PodConfig {
  id: string;
  name: string;
  created: string;
  infraId: string;
  hostname: string;
  /** none | pasta | slirp4netns (with options in networkOptions) */
  network: string;
  networkOptions: string[];
  ports: PortMapping[];
  labels: Record<string, string>;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class PodStore {
  readonly dir: string;
  constructor(readonly ctx: Context) {
    this.dir = join(ctx.root, "pods");
  }

  path(id: string, ...rest: string[]): string {
    return join(this.dir, id, ...rest);
  }

  ids(): string[] {
    try {
      return readdirSync(this.dir).filter((n) => /^[a-f0-9]{64}$/.test(n));
    } catch {
      return [];
    }
  }

  load(id: string): PodConfig | undefined {
    try {
      return JSON.parse(readFileSync(this.path(id, "pod.json"), "utf8"));
    } catch {
      return undefined;
    }
  }

  list(): PodConfig[] {
    return this.ids()
      .map((id) => this.load(id))
      .filter((p): p is PodConfig => !!p)
      .sort((a, b) => (a.created < b.created ? 1 : -1));
  }

  find(input: string): PodConfig | undefined {
    if (NAME_RE.test(input)) {
      try {
        const id = readFileSync(join(this.dir, "names", input), "utf8").trim();
        const p = this.load(id);
        if (p) return p;
      } catch {}
    }
    if (/^[a-f0-9]{1,64}$/.test(input)) {
      const hits = this.ids().filter((id) => id.startsWith(input));
      if (hits.length > 1) throw new TspodError(`more than one pod matches "${input}": use more characters of the ID`);
      if (hits.length === 1) return this.load(hits[0]);
    }
    return undefined;
  }

  lookup(input: string): PodConfig {
    const p = this.find(input);
    if (!p) throw new NotFoundError(`no pod with name or ID "${input}" found: no such pod`);
    return p;
  }

  /** Reserve the name (atomically) and create the pod's directory. */
  reserve(name: string, id: string): void {
    if (!NAME_RE.test(name)) throw new TspodError(`invalid pod name "${name}": names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
    // pods and containers share one name space, as in Podman (record.ts checks the other way)
    const ctrOwner = (() => {
      try {
        return readFileSync(join(this.ctx.root, "names", name), "utf8").split("\n")[0].trim();
      } catch {
        return "";
      }
    })();
    if (ctrOwner && existsSync(join(this.ctx.root, "containers", ctrOwner, "config.json"))) throw new TspodError(`the name "${name}" is already in use by container ${ctrOwner.slice(0, 12)}: that name is already in use`);
    mkdirSync(join(this.dir, "names"), { recursive: true, mode: 0o700 });
    const p = join(this.dir, "names", name);
    const tmp = join(this.dir, "names", `.tmp-${id}-${process.pid}`);
    writeFileSync(tmp, `${id}\n`, { mode: 0o600 });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          linkSync(tmp, p);
          break;
        } catch (e: any) {
          if (e.code !== "EEXIST" || attempt > 2) throw e;
        }
        const owner = readFileSync(p, "utf8").trim();
        if (existsSync(this.path(owner))) throw new TspodError(`the pod name "${name}" is already in use by ${owner}: remove that pod to reuse the name`);
        rmSync(p, { force: true }); // stale
      }
    } finally {
      rmSync(tmp, { force: true });
    }
    mkdirSync(this.path(id), { recursive: true, mode: 0o700 });
  }

  save(p: PodConfig): void {
    writeJsonAtomic(this.path(p.id, "pod.json"), p, 0o600, false);
  }

  remove(p: PodConfig): void {
    rmSync(this.path(p.id), { recursive: true, force: true });
    try {
      if (readFileSync(join(this.dir, "names", p.name), "utf8").trim() === p.id) rmSync(join(this.dir, "names", p.name), { force: true });
    } catch {}
  }

  /** Add or drop a member's line in the pod's hosts file (bind-mounted into every member: edited in place). */
  updateHosts(p: PodConfig, hostsPath: string, name: string, hostname: string | undefined): void {
    withLockSync(this.path(p.id, "lock"), () =>
      rewriteInPlace(hostsPath, (old) => {
        const mine = new RegExp(`^127\\.0\\.0\\.1\\t${escape(name)}( |$)`);
        const lines = old.split("\n").filter((l) => l !== "" && !mine.test(l));
        if (hostname !== undefined) lines.push(`127.0.0.1\t${hostname === name ? name : `${name} ${hostname}`}`);
        return lines.join("\n") + "\n";
      }),
    );
  }
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
