// What a pull or a push holds while it uses stored blobs and layers.
import type { Context } from "../context.ts";
import { log } from "../context.ts";
import type { Store } from "../storage/store.ts";
import { withLock } from "../storage/lock.ts";

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
