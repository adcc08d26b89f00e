// Choosing the rootfs driver: kernel overlayfs in the user namespace when it
// works here, else fuse-overlayfs, else a copy (vfs). The probe result is cached
// in the runtime dir (it is a property of this boot's kernel and settings).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Context } from "../context.ts";
import { ensureRunroot, log } from "../context.ts";
import { TspodError } from "../errors.ts";
import { writeJsonAtomic } from "../storage/atomic.ts";
import { deviceUsable, probeKernel, which } from "../sys/host.ts";
import { readSubIds } from "../sys/idmap.ts";
import { helperPath } from "../sys/native.ts";
import { mapArgs } from "../sys/idmap.ts";

export type Driver = "overlay" | "fuse-overlayfs" | "vfs";

export function chooseDriver(ctx: Context): Driver {
  const forced = ctx.storageDriver as Driver | undefined;
  if (forced) {
    if (!["overlay", "fuse-overlayfs", "vfs"].includes(forced)) throw new TspodError(`unknown storage driver ${forced}`);
    return forced;
  }
  const cache = join(ensureRunroot(ctx), "driver.json");
  try {
    const c = JSON.parse(readFileSync(cache, "utf8"));
    if (c.root === ctx.root && c.driver) return c.driver;
  } catch {}
  const k = probeKernel(ctx.root, readSubIds("/etc/subuid", ctx.uid), readSubIds("/etc/subgid", ctx.uid));
  let driver: Driver = "vfs";
  if (k.overlay_userns.ok) driver = "overlay";
  else if (which("fuse-overlayfs") && deviceUsable("/dev/fuse").ok) driver = "fuse-overlayfs";
  if (driver !== "overlay") log("warn", `kernel overlayfs is not usable here (${k.overlay_userns.error}): using ${driver}`);
  writeJsonAtomic(cache, { root: ctx.root, driver });
  return driver;
}

/** vfs: merge the layers into one directory (inside the user namespace, whiteouts applied). */
export function copyLayers(ctx: Context, layerDirsTopFirst: string[], dest: string): void {
  if (!existsSync(dest)) throw new TspodError(`copy rootfs: ${dest} missing`);
  const r = Bun.spawnSync([helperPath(), "copy-layers", ...mapArgs(), dest, ...[...layerDirsTopFirst].reverse()], { stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new TspodError(`copy rootfs: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`);
  void ctx;
}
