// /etc/subuid and /etc/subgid: the subordinate id ranges a rootless user may map.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ctx } from "../context.ts";

export interface IdRange {
  start: number;
  count: number;
}

export interface IdMapEntry {
  containerID: number;
  hostID: number;
  size: number;
}

/** Ranges for a user, matched by name or by numeric uid, as shadow-utils does. */
export function parseSubIds(text: string, user: string, uid: number): IdRange[] {
  const out: IdRange[] = [];
  for (const line of text.split("\n")) {
    const t = line.trim();
    if (!t || t.startsWith("#")) continue;
    const [who, start, count] = t.split(":");
    if (who !== user && who !== String(uid)) continue;
    const s = Number(start), c = Number(count);
    if (Number.isInteger(s) && Number.isInteger(c) && c > 0) out.push({ start: s, count: c });
  }
  return out;
}

export function readSubIds(file: "/etc/subuid" | "/etc/subgid", uid = process.getuid!()): IdRange[] {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return [];
  }
  return parseSubIds(text, userName(uid), uid);
}

/** The user's name from /etc/passwd (os.userInfo is unreliable in a compiled Bun binary), else $USER, else the uid. */
export function userName(uid = process.getuid!()): string {
  try {
    for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f.length >= 3 && Number(f[2]) === uid) return f[0];
    }
  } catch {}
  return process.env.USER || String(uid);
}

/**
 * The id map for a rootless container: 0 -> the user's own id, 1..N -> the
 * subordinate ranges in order. Root maps identically (no user namespace remap).
 */
export function buildIdMap(ownId: number, ranges: IdRange[]): IdMapEntry[] {
  const map: IdMapEntry[] = [{ containerID: 0, hostID: ownId, size: 1 }];
  let next = 1;
  for (const r of ranges) {
    map.push({ containerID: next, hostID: r.start, size: r.count });
    next += r.count;
  }
  return map;
}

/** "ctr:host:size,..." as the native helper takes it. */
export function idMapSpec(map: IdMapEntry[]): string {
  return map.map((m) => `${m.containerID}:${m.hostID}:${m.size}`).join(",");
}

/** Host id of a container id under a map, or undefined when it is unmapped. */
export function toHost(map: IdMapEntry[], id: number): number | undefined {
  for (const m of map) if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  return undefined;
}

export interface UserNsMaps {
  /** "ctr:host:size,..." for newuidmap, or undefined for root (no remapping) */
  uidSpec?: string;
  gidSpec?: string;
  uidMap: IdMapEntry[];
  gidMap: IdMapEntry[];
  /** true when the subordinate ranges are used, false for a single-id map */
  full: boolean;
}

let mapsCache: UserNsMaps | undefined;

/**
 * The id maps every rootless user namespace of this user gets: the same map
 * every time, so files unpacked once keep the same owners on disk.
 */
export function userNsMaps(): UserNsMaps {
  if (mapsCache) return mapsCache;
  const uid = process.getuid!(), gid = process.getgid!();
  if (uid === 0) {
    const ident = [{ containerID: 0, hostID: 0, size: 4294967295 }];
    return (mapsCache = { uidMap: ident, gidMap: ident, full: true });
  }
  const su = readSubIds("/etc/subuid", uid), sg = readSubIds("/etc/subgid", uid);
  if (!su.length || !sg.length) {
    const um = buildIdMap(uid, []), gm = buildIdMap(gid, []);
    return (mapsCache = { uidMap: um, gidMap: gm, full: false });
  }
  const um = buildIdMap(uid, su), gm = buildIdMap(gid, sg);
  return (mapsCache = { uidMap: um, gidMap: gm, uidSpec: idMapSpec(um), gidSpec: idMapSpec(gm), full: true });
}

/**
 * Arguments for native modes that take --uidmap/--gidmap. With them goes the
 * file that names the process keeping a namespace with that map (native/idmap.c:
 * the first helper makes it, later ones join it, as Podman's pause process),
 * one per runtime directory.
 */
export function mapArgs(m: UserNsMaps = userNsMaps()): string[] {
  return m.uidSpec && m.gidSpec ? ["--uidmap", m.uidSpec, "--gidmap", m.gidSpec, "--keep-userns", keptUsernsFile()] : [];
}

/** Where the pid of the process keeping the user namespace is recorded. */
export function keptUsernsFile(): string {
  return join(ctx().runroot, "userns.pid");
}
