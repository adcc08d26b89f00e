// What a pull or a push holds while it uses stored blobs and layers, and how a
// pull or a commit stops on a signal.
import type { Context } from "../context.ts";
import { log } from "../context.ts";
import type { Store } from "../storage/store.ts";
import { withLock } from "../storage/lock.ts";
import { readdirSync } from "node:fs";
import { join } from "node:path";

/**
 * Run fn while garbage collection (rmi, image prune) may not remove blobs or
 * layers: a pull uses the ones stored already before its image is saved, a
 * push reads an image's blobs while an rmi may remove the image. gc.lock is
 * held shared; collection takes it exclusively and waits for no one: while any
 * holder runs it is put off, and the holder that ends last does it.
 */
export async function holdingBlobs<T>(ctx: Context, store: Store, fn: () => Promise<T>): Promise<T> {
  try {
    return await withLock(store.gcLockPath(), fn, true);
  } finally {
    // an rmi or prune meanwhile put its collection off: done now (it waits for
    // no one: a pull or push still running leaves it to that one)
    if (store.gcPending()) {
      try {
        const { Images } = await import("./images.ts");
        new Images(ctx).collectGarbage();
      } catch (e) {
        log("debug", `garbage collection put off until now: ${(e as Error).message}`);
      }
    }
  }
}

/** What ends a pull or a commit with its temp files removed, and the exit code's 128 + number. */
const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 };

/**
 * Ctrl-C, SIGTERM or SIGHUP (the terminal closed) in the middle of a pull or a
 * commit: first undo (kill its helpers, unpause a container), then this
 * process's temp files are removed before it exits (129, 130 or 143, as a
 * shell says), rather than left for the next command to find. Returns the way
 * to stop listening.
 */
export function onInterrupt(store: Store, undo: () => void | Promise<void>): () => void {
  const handler = async (sig: NodeJS.Signals) => {
    try {
      await undo();
    } catch {}
    const tmp = join(store.root, "tmp");
    try {
      const mine = readdirSync(tmp).filter((n) => n.includes(`-${process.pid}-`));
      if (mine.length) store.removeTree(...mine.map((n) => join(tmp, n)));
    } catch {}
    process.exit(128 + SIGNALS[sig]!);
  };
  for (const s of Object.keys(SIGNALS)) process.on(s, handler);
  return () => {
    for (const s of Object.keys(SIGNALS)) process.off(s, handler);
  };
}
