// File locks (flock) for state shared between tspod processes. Locks are held
// for short critical sections (index updates, renames), never during downloads,
// with one exception: a pull holds locks/gc.lock shared for its whole length,
// which only keeps garbage collection (that never waits for it) away.
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { flock, LOCK_EX, LOCK_SH, LOCK_UN } from "../sys/libc.ts";

export class FileLock {
  private fd: number;
  /** mkdirParent false: the lock lives in a directory that must already exist (a container's). */
  constructor(readonly path: string, mkdirParent = true) {
    if (mkdirParent) mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    this.fd = openSync(path, "a", 0o600);
  }
  lock(shared = false): this {
    flock(this.fd, shared ? LOCK_SH : LOCK_EX);
    return this;
  }
  unlock(): void {
    flock(this.fd, LOCK_UN);
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** Run fn while holding an exclusive (or shared) lock on path. */
export async function withLock<T>(path: string, fn: () => T | Promise<T>, shared = false): Promise<T> {
  const l = new FileLock(path).lock(shared);
  try {
    return await fn();
  } finally {
    l.unlock();
    l.close();
  }
}

export function withLockSync<T>(path: string, fn: () => T, shared = false, mkdirParent = true): T {
  const l = new FileLock(path, mkdirParent).lock(shared);
  try {
    return fn();
  } finally {
    l.unlock();
    l.close();
  }
}
