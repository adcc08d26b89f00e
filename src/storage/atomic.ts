// Atomic writes: temp name in the same directory, exact mode, fsync, rename,
// fsync of the directory. Nothing is ever left half-written under the real name.
import { closeSync, fchmodSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { TspodError } from "../errors.ts";

let seq = 0;
export function tempName(path: string): string {
  return join(dirname(path), `.tmp-${basename(path)}-${process.pid}-${Date.now().toString(36)}-${seq++}`);
}

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, sync = true, mkdir = true): void {
  const dir = dirname(path);
  if (mkdir) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = tempName(path);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", mode);
    fchmodSync(fd, mode); // the umask may have taken bits away: set exactly what was asked
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (sync) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {}
    }
    try {
      unlinkSync(tmp);
    } catch {}
    throw new TspodError(`cannot write ${path}: ${(e as Error).message}`);
  }
  if (sync) {
    try {
      const dfd = openSync(dir, "r");
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // Directory fsync is best effort (some filesystems refuse it).
    }
  }
}

export function writeJsonAtomic(path: string, value: unknown, mode = 0o644, sync = true, mkdir = true): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n", mode, sync, mkdir);
}
