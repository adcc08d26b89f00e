// `tspod info`: the facts a user needs to debug a rootless setup, each from a real probe.
import { scaledSize } from "../units.ts";
import { existsSync, readdirSync, statSync, statfsSync } from "node:fs";
import { hostname, release, cpus, totalmem } from "node:os";
import { join } from "node:path";
import pjson from "../../package.json" with { type: "json" };
import type { Context } from "../context.ts";
import { ensureRunroot } from "../context.ts";
import { readSubIds, userName } from "../sys/idmap.ts";
import { deviceUsable, probeCgroups, probeKernel, which } from "../sys/host.ts";
import { helperPath } from "../sys/native.ts";

function countDir(p: string): number {
  try {
    return readdirSync(p).filter((n) => !n.startsWith(".")).length;
  } catch {
    return 0;
  }
}

function dirBytes(p: string): number {
  let total = 0;
  try {
    for (const n of readdirSync(p)) {
      try {
        total += statSync(join(p, n)).size;
      } catch {}
    }
  } catch {}
  return total;
}

function setuidRoot(p: string | undefined): boolean {
  if (!p) return false;
  try {
    const st = statSync(p);
    return st.uid === 0 && (st.mode & 0o4000) !== 0;
  } catch {
    return false;
  }
}

export function gatherInfo(c: Context) {
  ensureRunroot(c);
  const subuid = c.rootless ? readSubIds("/etc/subuid", c.uid) : [];
  const subgid = c.rootless ? readSubIds("/etc/subgid", c.uid) : [];
  const kernel = probeKernel(c.root, subuid, subgid);
  const cg = probeCgroups();
  const newuidmap = which("newuidmap");
  const newgidmap = which("newgidmap");
  const fuseOverlayfs = which("fuse-overlayfs");
  const pasta = which("pasta");
  const slirp = which("slirp4netns");
  const fuse = deviceUsable("/dev/fuse");
  const tun = deviceUsable("/dev/net/tun");
  let fs = { total: 0, free: 0 };
  try {
    const s = statfsSync(c.root);
    fs = { total: s.blocks * s.bsize, free: s.bavail * s.bsize };
  } catch {}
  const driver = c.storageDriver ?? (kernel.overlay_userns.ok ? "overlay" : fuseOverlayfs && fuse.ok ? "fuse-overlayfs" : "vfs");
  const network = pasta && tun.ok ? "pasta" : slirp && tun.ok ? "slirp4netns" : "none";
  const warnings: string[] = [];
  if (c.rootless && !subuid.length) warnings.push(`no /etc/subuid range for ${userName(c.uid)}: containers get a single-id map (only uid 0)`);
  if (c.rootless && !subgid.length) warnings.push(`no /etc/subgid range for ${userName(c.uid)}: containers get a single-id map (only gid 0)`);
  if (c.rootless && subuid.length && !kernel.idmap.ok) warnings.push(`newuidmap/newgidmap failed: ${kernel.idmap.error}`);
  if (!kernel.userns.ok) warnings.push(`user namespaces are not allowed: ${kernel.userns.error}`);
  if (!cg.usable) warnings.push(`cgroups unusable (${cg.reason}): --memory/--cpus/--pids-limit are refused; stats come from /proc`);
  if (c.runrootFallback) warnings.push(`XDG_RUNTIME_DIR is not set: using ${c.runroot}`);
  if (network === "none") warnings.push(`no usable pasta or slirp4netns${!tun.ok ? ` (${tun.error})` : ""}: containers default to --network none`);
  const images = countDir(join(c.root, "images"));
  const containers = countDir(join(c.root, "containers"));
  return {
    Host: {
      Hostname: hostname(),
      Kernel: release(),
      OS: process.platform,
      Arch: process.arch === "x64" ? "amd64" : process.arch,
      CPUs: cpus().length,
      MemTotal: totalmem(),
      Rootless: c.rootless,
      // Podman's place for it, which scripts read: {{.Host.Security.Rootless}}
      Security: { Rootless: c.rootless },
      Uid: c.uid,
      Gid: c.gid,
      User: userName(c.uid),
      IDMappings: {
        UidRanges: subuid.map((r) => ({ Start: r.start, Count: r.count })),
        GidRanges: subgid.map((r) => ({ Start: r.start, Count: r.count })),
        Newuidmap: { Path: newuidmap ?? "", SetuidRoot: setuidRoot(newuidmap) },
        Newgidmap: { Path: newgidmap ?? "", SetuidRoot: setuidRoot(newgidmap) },
        FullMapWorks: c.rootless ? kernel.idmap.ok && kernel.chown_subid.ok : true,
        Error: c.rootless ? (kernel.idmap.ok ? kernel.chown_subid.error ?? "" : kernel.idmap.error ?? "") : "",
      },
      Namespaces: {
        User: kernel.userns,
        Mount: kernel.mountns,
      },
      Cgroups: { Version: cg.version, Usable: cg.usable, Controllers: cg.controllers, Path: cg.path ?? "", Reason: cg.reason ?? "" },
      Network: {
        Default: network,
        Pasta: pasta ?? "",
        Slirp4netns: slirp ?? "",
        Tun: tun,
      },
    },
    Store: {
      GraphRoot: c.root,
      RunRoot: c.runroot,
      RunRootFallback: c.runrootFallback,
      Driver: driver,
      Drivers: {
        Overlay: kernel.overlay_userns,
        WhiteoutDevices: kernel.whiteout_mknod,
        FuseOverlayfs: { Path: fuseOverlayfs ?? "", DevFuse: fuse },
        Vfs: { ok: true },
      },
      // Podman's names for these, which scripts read: {{.Store.GraphDriverName}}, {{.Store.VolumePath}}
      GraphDriverName: driver,
      VolumePath: join(c.root, "volumes"),
      Images: images,
      Layers: countDir(join(c.root, "layers")),
      Containers: containers,
      // and Podman's for these: {{.Store.ImageStore.Number}}, {{.Store.ContainerStore.Number}}
      ImageStore: { Number: images },
      ContainerStore: { Number: containers },
      BlobBytes: dirBytes(join(c.root, "blobs/sha256")),
      FsTotal: fs.total,
      FsFree: fs.free,
      Exists: existsSync(c.root),
    },
    Version: { Version: pjson.version, Bun: Bun.version, Helper: helperPath() },
    Warnings: warnings,
  };
}

export type Info = ReturnType<typeof gatherInfo>;

const yes = (ch: { ok: boolean; error?: string }) => (ch.ok ? "yes" : `no (${ch.error})`);

const bytes = (n: number) => scaledSize(n, { fixed: 1, sep: " " });

export function renderInfo(i: Info): string {
  const h = i.Host, s = i.Store, m = h.IDMappings;
  const ranges = (r: { Start: number; Count: number }[]) => (r.length ? r.map((x) => `${x.Start}+${x.Count}`).join(", ") : "none");
  const lines = [
    `host:`,
    `  user:            ${h.User} (uid ${h.Uid}, gid ${h.Gid})${h.Rootless ? ", rootless" : ", root"}`,
    `  kernel:          ${h.Kernel} ${h.Arch}, ${h.CPUs} CPUs, ${bytes(h.MemTotal)} memory`,
    `  subuid ranges:   ${ranges(m.UidRanges)}`,
    `  subgid ranges:   ${ranges(m.GidRanges)}`,
    `  newuidmap:       ${m.Newuidmap.Path || "not found"}${m.Newuidmap.Path && !m.Newuidmap.SetuidRoot ? " (not setuid root)" : ""}`,
    `  newgidmap:       ${m.Newgidmap.Path || "not found"}${m.Newgidmap.Path && !m.Newgidmap.SetuidRoot ? " (not setuid root)" : ""}`,
    `  full id map:     ${m.FullMapWorks ? "yes" : `no (${m.Error})`}`,
    `  user namespaces: ${yes(h.Namespaces.User)}`,
    `  cgroups:         ${h.Cgroups.Version}, ${h.Cgroups.Usable ? "usable" : `not usable (${h.Cgroups.Reason})`}`,
    `network:`,
    `  default:         ${h.Network.Default}`,
    `  pasta:           ${h.Network.Pasta || "not found"}`,
    `  slirp4netns:     ${h.Network.Slirp4netns || "not found"}`,
    `  /dev/net/tun:    ${yes(h.Network.Tun)}`,
    `store:`,
    `  graph root:      ${s.GraphRoot}`,
    `  run root:        ${s.RunRoot}${s.RunRootFallback ? " (fallback: XDG_RUNTIME_DIR unset)" : ""}`,
    `  driver:          ${s.Driver}`,
    `  overlay:         ${yes(s.Drivers.Overlay)} (kernel overlayfs in a user namespace)`,
    `  whiteout mknod:  ${yes(s.Drivers.WhiteoutDevices)}`,
    `  fuse-overlayfs:  ${s.Drivers.FuseOverlayfs.Path || "not found"}${s.Drivers.FuseOverlayfs.Path ? `, /dev/fuse ${yes(s.Drivers.FuseOverlayfs.DevFuse)}` : ""}`,
    `  images:          ${s.Images}`,
    `  layers:          ${s.Layers}`,
    `  containers:      ${s.Containers}`,
    `  blobs:           ${bytes(s.BlobBytes)}`,
    `  filesystem:      ${bytes(s.FsFree)} free of ${bytes(s.FsTotal)}`,
    `version:           ${i.Version.Version} (bun ${i.Version.Bun})`,
  ];
  if (i.Warnings.length) lines.push("warnings:", ...i.Warnings.map((w) => `  - ${w}`));
  return lines.join("\n");
}
