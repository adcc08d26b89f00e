// Atomic writes: temp name in the same directory, exact mode, fsync, rename,
// fsync of the directory. Nothing is ever left half-written under the real name.
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, promises as fsPromises, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { TspodError } from "../errors.ts";

let seq = 0;
export function tempName(path: string): string {
  return join(dirname(path), `.tmp-${basename(path)}-${process.pid}-${Date.now().toString(36)}-${seq++}`);
}

/**
 * A new file (it must not exist) with exactly this content and mode, fsynced
 * when sync. On failure nothing is left under that name.
 */
export function writeNewFile(path: string, data: string | Uint8Array, mode = 0o644, sync = true): void {
  let fd: number | undefined;
  try {
    fd = openSync(path, "wx", mode);
    fchmodSync(fd, mode); // the umask may have taken bits away: set exactly what was asked
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (sync) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {}
      try {
        unlinkSync(path);
      } catch {}
    }
    throw e;
  }
}

/**
 * fsync of a file by name, on Bun's thread pool: the caller's thread goes on
 * with its events meanwhile. Here an fsync usually takes 1-5 ms and now and
 * then 50-70 ms (a busybox pull's small blobs, traced: ~1 pull in 40).
 */
export async function syncFileAsync(path: string): Promise<void> {
  const fh = await fsPromises.open(path, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync of a directory (what was renamed into it stays there): best effort, some filesystems refuse it. */
export function fsyncDir(dir: string): void {
  try {
    const dfd = openSync(dir, "r");
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch {}
}

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, sync = true, mkdir = true): void {
  const dir = dirname(path);
  if (mkdir) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = tempName(path);
  try {
    writeNewFile(tmp, data, mode, sync);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {}
    throw new TspodError(`cannot write ${path}: ${(e as Error).message}`);
  }
  if (sync) fsyncDir(dir);
}

export function writeJsonAtomic(path: string, value: unknown, mode = 0o644, sync = true, mkdir = true): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n", mode, sync, mkdir);
}
