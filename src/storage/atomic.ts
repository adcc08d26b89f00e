// Atomic writes: temp name in the same directory, fsync, rename. Nothing is left half-written.
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, basename, join } from "node:path";

let seq = 0;
export function tempName(path: string): string {
  return join(dirname(path), `.tmp-${basename(path)}-${process.pid}-${Date.now().toString(36)}-${seq++}`);
}

export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, sync = true): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = tempName(path);
  const fd = openSync(tmp, "wx", mode);
  try {
    const buf = typeof data === "string" ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (sync) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

export function writeJsonAtomic(path: string, value: unknown, mode = 0o644): void {
  writeFileAtomic(path, JSON.stringify(value, null, 2) + "\n", mode);
}
