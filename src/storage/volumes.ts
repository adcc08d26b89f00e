// Named volumes (Podman's "local" driver): ROOT/volumes/NAME/_data is what a
// container mounts, ROOT/volumes/NAME/volume.json what `volume inspect` shows.
// A volume is made whole in tmp/ and renamed into place, so a name is either a
// complete volume or none; a removal renames it away before it deletes.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../context.ts";
import { NotFoundError, TspodError, UsageError } from "../errors.ts";
import { randomHex } from "../sys/random.ts";
import { fsyncDir, writeJsonAtomic } from "./atomic.ts";
import { withLockSync } from "./lock.ts";
import { Store } from "./store.ts";

export interface VolumeRecord {
  Name: string;
  Driver: "local";
  Mountpoint: string;
  CreatedAt: string;
  Labels: Record<string, string>;
  Scope: "local";
  Options: Record<string, string>;
  /** made for one container (-v /path, the image's VOLUME): removed with it by rm -v and --rm */
  Anonymous?: boolean;
  /** not used yet: the first container to mount it copies the image's content there in (when empty); read, not stored */
  NeedsCopyUp: boolean;
}

/** Podman's rule for volume names. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export class VolumeInUseError extends TspodError {
  constructor(message: string) {
    super(message, 2); // Podman's exit code for a volume in use
  }
}

export class VolumeStore {
  readonly dir: string;
  private store: Store;
  constructor(readonly ctx: Context) {
    this.dir = join(ctx.root, "volumes");
    this.store = new Store(ctx);
  }
  private lockPath(): string {
    return join(this.ctx.root, "locks", "volumes.lock");
  }
  path(name: string): string {
    return join(this.dir, name);
  }
  get(name: string): VolumeRecord | undefined {
    if (!VOLUME_NAME.test(name)) return undefined;
    try {
      const rec: VolumeRecord = JSON.parse(readFileSync(join(this.path(name), "volume.json"), "utf8"));
      // the runtime marks the first use done (native/container.c copy_up)
      return { ...rec, NeedsCopyUp: !existsSync(join(this.path(name), "copied-up")) };
    } catch {
      return undefined;
    }
  }
  lookup(name: string): VolumeRecord {
    const v = this.get(name);
    if (!v) throw new NotFoundError(`no volume with name "${name}" found: no such volume`);
    return v;
  }
  list(): VolumeRecord[] {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {}
    return names
      .map((n) => this.get(n))
      .filter((v): v is VolumeRecord => !!v)
      .sort((a, b) => (a.Name < b.Name ? -1 : 1));
  }

  /**
   * A new volume (a name of 64 hex digits when none is given). ifExists: what a
   * volume of that name already there gives (create --ignore, and -v NAME:/path);
   * else that is an error.
   */
  create(name: string | undefined, opts: { labels?: Record<string, string>; ifExists?: boolean; anonymous?: boolean } = {}): VolumeRecord {
    const n = name ?? randomHex(32);
    if (!VOLUME_NAME.test(n)) throw new UsageError(`invalid volume name "${n}": names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*`);
    return withLockSync(this.lockPath(), () => {
      const old = this.get(n);
      if (old) {
        if (opts.ifExists) return old;
        throw new TspodError(`volume with name ${n} already exists: volume already exists`);
      }
      const rec: Omit<VolumeRecord, "NeedsCopyUp"> = {
        Name: n,
        Driver: "local",
        Mountpoint: join(this.path(n), "_data"),
        CreatedAt: new Date().toISOString(),
        Labels: opts.labels ?? {},
        Scope: "local",
        Options: {},
        ...(opts.anonymous ? { Anonymous: true } : {}),
      };
      const tmp = this.store.tempPath("volume");
      mkdirSync(join(tmp, "_data"), { recursive: true, mode: 0o755 });
      try {
        writeJsonAtomic(join(tmp, "volume.json"), rec, 0o644);
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        renameSync(tmp, this.path(n)); // (a directory there that is no volume: refused, not replaced)
        fsyncDir(this.dir);
      } catch (e) {
        rmSync(tmp, { recursive: true, force: true });
        throw new TspodError(`cannot create volume ${n}: ${(e as Error).message}`);
      }
      return { ...rec, NeedsCopyUp: true };
    });
  }

  /** Remove a volume (users: the containers that use it, checked under the lock; any refuses). */
  remove(name: string, users: (name: string) => string[]): void {
    withLockSync(this.lockPath(), () => {
      this.lookup(name);
      const u = users(name);
      if (u.length) throw new VolumeInUseError(`volume ${name} is being used by the following container(s): ${u.join(", ")}: volume is being used`);
      // renamed away first: a removal cut short leaves no half volume under its name
      const gone = this.store.tempPath("volume-rm");
      renameSync(this.path(name), gone);
      fsyncDir(this.dir);
      this.store.removeTree(gone);
    });
  }
}
