// Container sizes, as Podman's ps --size shows them: the writable layer's
// size (RwSize) and the root filesystem's (RootFsSize: the image and that layer).
import { join } from "node:path";
import type { Context } from "../context.ts";
import { TspodError } from "../errors.ts";
import { mapArgs } from "../sys/idmap.ts";
import { helperPath } from "../sys/native.ts";
import { Store } from "../storage/store.ts";
import type { Container } from "./record.ts";

export interface ContainerSize {
  rwSize: number;
  rootFsSize: number;
}

/**
 * The sizes of these containers, counted as containers/storage counts a tree
 * (every file but directories, a hard-linked one once) by `tspod-rt du`, in
 * the user namespace rootless: files of the container's other users may sit
 * in directories only they may read. An overlay container's writable layer is
 * its upper directory; a vfs one's copy is the image and its changes in one
 * tree, so its RwSize is what that tree has beyond the image's size (files
 * removed from the image are not seen there).
 */
export function containerSizes(ctx: Context, list: Container[]): Map<string, ContainerSize> {
  const out = new Map<string, ContainerSize>();
  if (!list.length) return out;
  const paths = list.map((c) => join(c.dir, c.config.driver === "vfs" ? "merged" : "upper"));
  const r = Bun.spawnSync([helperPath(), "du", ...(ctx.uid === 0 ? [] : mapArgs()), ...paths], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new TspodError(`container sizes: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`);
  const sizes = r.stdout.toString().trim().split("\n").map(Number);
  const store = new Store(ctx);
  const imageSize = new Map<string, number>();
  list.forEach((c, i) => {
    if (!imageSize.has(c.config.image.id)) imageSize.set(c.config.image.id, store.image(c.config.image.id)?.size ?? 0);
    const img = imageSize.get(c.config.image.id)!;
    const tree = sizes[i] ?? 0;
    const rwSize = c.config.driver === "vfs" ? Math.max(0, tree - img) : tree;
    out.set(c.config.id, { rwSize, rootFsSize: img + rwSize });
  });
  return out;
}
