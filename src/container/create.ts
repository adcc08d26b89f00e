// Creating a container: resolve the image (pulling per policy), work out the
// command, user, mounts and files, reserve the name, write config and spec.
import { hostname as osHostname } from "node:os";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { randomBytes, randomHex } from "../sys/random.ts";
import type { Context } from "../context.ts";
import { log, warnOnce } from "../context.ts";
import { TspodError, UsageError } from "../errors.ts";
import { Images } from "../image/images.ts";
import type { ImageRecord } from "../storage/store.ts";
import { writeFileAtomic, writeJsonAtomic } from "../storage/atomic.ts";
import { userNsMaps } from "../sys/idmap.ts";
import { probeCgroups } from "../sys/host.ts";
import { ContainerStore, DEFAULT_PATH, NameInUseError, type ContainerConfig, type MountSpec } from "./record.ts";
import { buildSpec, type ResolvedUser } from "./spec.ts";
import { mergeCaps } from "./caps.ts";
import { VOLUME_NAME, VolumeStore } from "../storage/volumes.ts";
import { parseLabels } from "../labels.ts";
import { chooseDriver } from "./driver.ts";
import { cgroupPlan, checkLimits, createCgroups, removeCgroups } from "./cgroups.ts";
import { defaultNetwork, helperPath, parseNetwork, type NetworkChoice } from "../network/mode.ts";
import { assignHostPorts, checkConflicts, checkPortsForNetwork, exposedToMappings, parsePublish, type PortMapping } from "../network/ports.ts";
import { addressesFor, helperRecords, hostsFile, resolvConf, specLendRecords, type NameOptions, type NetAddresses } from "../network/setup.ts";
import { PodStore, type PodConfig } from "../network/pods.ts";
import type { Container } from "./record.ts";

export interface CreateOptions {
  image: string;
  command: string[];
  name?: string;
  env: string[];
  envFiles: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  tty: boolean;
  interactive: boolean;
  rm: boolean;
  init: boolean;
  readOnly: boolean;
  /** with readOnly: tmpfs on /tmp, /var/tmp and /run (Podman's read-only-tmpfs, on by default) */
  readOnlyTmpfs?: boolean;
  noNewPrivileges?: boolean;
  /** --security-opt seccomp=unconfined, apparmor=unconfined (recorded only: tspod applies no AppArmor profile) */
  seccompUnconfined?: boolean;
  apparmorUnconfined?: boolean;
  /** --cap-add, --cap-drop (names with or without CAP_, comma-separated lists, ALL) */
  capAdd?: string[];
  capDrop?: string[];
  /** undefined or "" = the default (pasta, else slirp4netns, else none) */
  network?: string;
  /** -p/--publish */
  publish?: string[];
  /** -P/--publish-all: the image's EXPOSE list on free host ports */
  publishAll?: boolean;
  /** --expose: ports added to the image's EXPOSE list (PORT[-PORT][/proto]) */
  expose?: string[];
  /** --add-host HOST:IP, --dns, --dns-search, --dns-option, --no-hosts (Podman's) */
  addHosts?: string[];
  dns?: string[];
  dnsSearch?: string[];
  dnsOptions?: string[];
  noHosts?: boolean;
  /** join this pod (its network namespace) */
  pod?: string;
  volumes: string[];
  /** --mount type=bind|volume|tmpfs,... */
  mounts?: string[];
  tmpfs: string[];
  pull: "always" | "missing" | "never";
  tlsVerify?: boolean;
  memory?: string;
  cpus?: string;
  pidsLimit?: string;
  labels: string[];
  /** --stop-signal: instead of the image's STOPSIGNAL */
  stopSignal?: string;
  /** --stop-timeout: seconds */
  stopTimeout?: number;
  quietPull: boolean;
  onPullEvent?: (e: any) => void;
}

export const ADJECTIVES = ["admiring", "bold", "brave", "clever", "eager", "focused", "gallant", "happy", "jolly", "keen", "lucid", "nifty", "quirky", "serene", "vibrant", "zealous"];
export const NOUNS = ["babbage", "curie", "darwin", "einstein", "faraday", "galileo", "hopper", "kepler", "lovelace", "newton", "noether", "pasteur", "ritchie", "thompson", "turing", "wozniak"];

function randomName(): string {
  const b = randomBytes(3);
  return `${ADJECTIVES[b[0] % ADJECTIVES.length]}_${NOUNS[b[1] % NOUNS.length]}${b[2] % 100}`;
}

/**
 * A generated name, reserved for id: one taken already (by a container made
 * before, or by another create at this moment) is drawn again, as Podman does.
 * 25,600 names: 20 creates at once collided about once in 60 CI runs.
 */
function reserveRandomName(store: ContainerStore, id: string): string {
  for (let i = 0; ; i++) {
    const name = randomName();
    try {
      store.reserveName(name, id);
      return name;
    } catch (e) {
      if (i >= 100 || !(e instanceof NameInUseError)) throw e;
    }
  }
}

/** KEY=VAL, or KEY alone to take the host's value (as Docker does). */
export function parseEnv(list: string[], files: string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, "utf8");
    } catch (e: any) {
      const why = e.code === "ENOENT" ? "no such file or directory" : e.code === "EACCES" ? "permission denied" : e.code === "EISDIR" ? "is a directory" : (e.message ?? String(e));
      throw new UsageError(`cannot read env file ${f}: ${why}`);
    }
    for (const raw of text.split("\n")) {
      const line = raw.replace(/\r$/, "");
      if (!line.trim() || line.trimStart().startsWith("#")) continue;
      out.push(...parseEnv([line], []));
    }
  }
  for (const e of list) {
    const i = e.indexOf("=");
    if (i === 0) throw new UsageError(`invalid environment variable "${e}"`);
    if (i < 0) {
      const v = process.env[e];
      if (v !== undefined) out.push(`${e}=${v}`);
    } else out.push(e);
  }
  return out;
}

/** Later entries win; order kept by first appearance. */
export function mergeEnv(...lists: string[][]): string[] {
  const m = new Map<string, string>();
  for (const l of lists) for (const e of l) {
    const i = e.indexOf("=");
    const k = i < 0 ? e : e.slice(0, i);
    m.delete(k);
    m.set(k, e);
  }
  return [...m.values()];
}

/**
 * -v SRC:DST[:OPTS]: SRC an absolute or ./relative host path (a bind mount), or
 * a volume's name (made at create if there is none, as Podman); -v DST alone: an
 * anonymous volume (a new one, removed with the container by rm -v and --rm).
 */
export function parseVolume(v: string): MountSpec {
  const parts = v.split(":");
  if (parts.length === 1 && isAbsolute(v)) return checkedMount(`volume "${v}"`, "anonymous", "", v, []);
  if (parts.length < 2 || parts.length > 3) throw new UsageError(`invalid volume "${v}": use SRC:DST[:OPTIONS] (or DST alone: an anonymous volume)`);
  const [src, dst, opts = ""] = parts;
  const kind = !src.startsWith("/") && !src.startsWith(".") ? "volume" : "bind";
  return checkedMount(`volume "${v}"`, kind, src, dst, opts.split(",").filter(Boolean));
}

/** A bind mount, a named volume or an anonymous one, checked (what: the flag and its value, for messages). */
function checkedMount(what: string, kind: "bind" | "volume" | "anonymous", src: string, dst: string, opts: string[]): MountSpec {
  const bad = (why: string) => new UsageError(`invalid ${what}: ${why}`);
  if (!isAbsolute(dst)) throw bad(`container path ${dst} must be absolute`);
  if (kind === "volume" && !VOLUME_NAME.test(src)) throw bad(`${src} is neither a host path (absolute, or ./relative) nor a volume name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)`);
  const source = kind === "bind" ? resolve(src) : "";
  if (kind === "bind" && !existsSync(source)) throw bad(`${source}: no such file or directory`);
  // "/" would be the whole root filesystem (Podman refuses it too)
  if (posixNormalize(dst) === "/") throw bad("cannot mount over the container's /");
  const options: string[] = [];
  for (const o of opts) {
    if (["ro", "rw", "z", "Z", "nosuid", "nodev", "noexec", "rbind", "bind", "private", "rprivate", "shared", "slave"].includes(o)) {
      if (o === "ro" || o === "rw" || o === "nosuid" || o === "nodev" || o === "noexec") options.push(o);
    } else if (kind !== "bind" && (o === "nocopy" || o === "copy")) {
      // a volume's first use copies the image's content in, unless nocopy (Podman's)
      if (o === "nocopy") options.push(o);
    } else throw bad(`unknown option ${o}`);
  }
  if (options.includes("ro") && options.includes("rw")) throw bad("ro and rw cannot both be given");
  const vol = kind === "volume" ? { volume: src } : kind === "anonymous" ? { volume: "", anonymous: true } : {};
  return { type: "bind", source, destination: dst, options, ...vol };
}

/** One --mount value's fields: comma-separated, a field in double quotes may hold commas (as Podman's CSV). */
function mountFields(m: string): string[] {
  const out: string[] = [];
  let cur = "", quoted = false;
  for (const ch of m) {
    if (ch === '"') quoted = !quoted;
    else if (ch === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  if (quoted) throw new UsageError(`invalid --mount "${m}": a quote is not closed`);
  out.push(cur);
  return out;
}

const MOUNT_KEYS: Record<string, string[]> = {
  common: ["type", "source", "src", "destination", "dst", "target", "readonly", "ro", "rw", "z", "Z", "relabel", "consistency"],
  bind: ["bind-propagation"],
  volume: ["volume-nocopy", "nocopy"],
  tmpfs: ["tmpfs-size", "tmpfs-mode"],
};

/**
 * --mount type=bind|volume|tmpfs,source=..,destination=..[,readonly] with
 * Docker's and Podman's keys (src, dst and target too; ro and rw; volume-nocopy;
 * tmpfs-size, tmpfs-mode; z, Z, relabel and consistency accepted, as nothing
 * here labels or caches); a later alias wins, as Podman's; type volume
 * without a source: an anonymous one.
 */
export function parseMount(m: string): MountSpec {
  const what = `--mount "${m}"`;
  const bad = (why: string) => new UsageError(`invalid ${what}: ${why}`);
  const fields = mountFields(m).map((f) => {
    const i = f.indexOf("=");
    return { k: i < 0 ? f : f.slice(0, i), v: i < 0 ? undefined : f.slice(i + 1) };
  });
  const type = fields.filter((f) => f.k === "type").pop()?.v;
  if (type === undefined) throw bad("type= is required (bind, volume or tmpfs)");
  if (!["bind", "volume", "tmpfs"].includes(type)) throw bad(`type ${type}: bind, volume or tmpfs`);
  for (const f of fields) if (!MOUNT_KEYS.common.includes(f.k) && !MOUNT_KEYS[type]!.includes(f.k)) throw bad(`unknown option ${f.k} for type ${type}`);
  const last = (...keys: string[]) => fields.filter((f) => keys.includes(f.k)).pop();
  const dst = last("destination", "dst", "target")?.v;
  if (!dst) throw bad("a destination (destination=, dst= or target=) is required");
  const src = last("source", "src")?.v ?? "";
  const rw = fields.filter((f) => ["readonly", "ro", "rw"].includes(f.k));
  if (rw.length > 1) throw bad("cannot pass 'readonly', 'ro', or 'rw' options more than once");
  const roOf = (f: { k: string; v?: string }) => {
    const v = f.v ?? "true";
    if (!["true", "false", "1", "0"].includes(v)) throw bad(`${f.k}=${v}: true or false`);
    const yes = v === "true" || v === "1";
    return f.k === "rw" ? !yes : yes;
  };
  const opts = rw.length && roOf(rw[0]!) ? ["ro"] : [];
  if (type === "bind") {
    const prop = last("bind-propagation")?.v;
    if (prop !== undefined && !["private", "rprivate"].includes(prop)) throw bad(`bind-propagation=${prop}: tspod's mounts are private (private, rprivate)`);
    if (!src) throw bad("a bind mount needs a source");
    return checkedMount(what, "bind", src, dst, opts);
  }
  if (type === "volume") {
    const nocopy = last("volume-nocopy", "nocopy");
    if (nocopy && (nocopy.v ?? "true") !== "false") opts.push("nocopy");
    if (src.startsWith("/") || src.startsWith(".")) throw bad(`a volume's source is its name (${src} is a path: type=bind mounts one)`);
    return checkedMount(what, src ? "volume" : "anonymous", src, dst, opts);
  }
  if (src) throw bad("a tmpfs has no source");
  const size = last("tmpfs-size")?.v;
  const mode = last("tmpfs-mode")?.v;
  const o = [...opts, ...(size !== undefined ? [`size=${size}`] : []), ...(mode !== undefined ? [`mode=${mode}`] : [])];
  return parseTmpfs(o.length ? `${dst}:${o.join(",")}` : dst);
}

function posixNormalize(p: string): string {
  return resolve("/", p);
}

/** Two mounts (-v, --tmpfs) on one container path: Podman's error. */
export function checkMountDestinations(mounts: MountSpec[]): void {
  const seen = new Set<string>();
  for (const m of mounts) {
    const d = posixNormalize(m.destination);
    if (seen.has(d)) throw new UsageError(`${d}: duplicate mount destination`);
    seen.add(d);
  }
}

/** --tmpfs /path[:opts] */
export function parseTmpfs(t: string): MountSpec {
  const i = t.indexOf(":");
  const dst = i < 0 ? t : t.slice(0, i);
  const opts = i < 0 ? "" : t.slice(i + 1);
  if (!isAbsolute(dst)) throw new UsageError(`invalid --tmpfs "${t}": path must be absolute`);
  const options = ["nosuid", "nodev", ...opts.split(",").filter(Boolean)];
  if (!options.some((o) => o.startsWith("mode="))) options.push("mode=1777");
  return { type: "tmpfs", source: "tmpfs", destination: dst, options };
}

/** --entrypoint: "" clears it; a JSON array of strings is the command; anything else is one word (as Podman). */
export function parseEntrypoint(e: string): string[] {
  if (e === "") return [];
  if (e.startsWith("[")) {
    try {
      const v = JSON.parse(e);
      if (Array.isArray(v) && v.every((x) => typeof x === "string")) return v;
    } catch {}
  }
  return [e];
}

/** Podman's size strings: 512m, 1g, 1024 (bytes). */
export function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(s.trim());
  if (!m) throw new UsageError(`invalid size "${s}": use a number with b, k, m or g`);
  const mul: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
  return Math.floor(Number(m[1]) * mul[m[2].toLowerCase()]);
}

/** The topmost layer's copy of a file, honouring whiteouts (char device 0:0). */
export function readImageFile(layerDirs: string[], rel: string): string | undefined {
  for (const d of layerDirs) {
    const p = join(d, rel);
    try {
      const st = lstatSync(p);
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      if (st.isFile()) return readFileSync(p, "utf8");
    } catch {}
  }
  return undefined;
}

/** -u NAME|UID[:GROUP|GID] against the image's /etc/passwd and /etc/group. */
export function resolveUser(spec: string, layerDirs: string[]): ResolvedUser {
  const parts = spec.split(":");
  // ":GID" is root with that group, as Podman takes it
  const u = parts[0] === "" && parts.length > 1 ? "0" : parts[0]!;
  const g = parts[1];
  const passwd = readImageFile(layerDirs, "etc/passwd") ?? "";
  const group = readImageFile(layerDirs, "etc/group") ?? "";
  const pw = passwd.split("\n").map((l) => l.split(":")).filter((f) => f.length >= 7);
  const gr = group.split("\n").map((l) => l.split(":")).filter((f) => f.length >= 4);
  let uid: number, gid: number | undefined, name: string | undefined, home: string | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    const e = pw.find((f) => Number(f[2]) === uid);
    if (e) {
      name = e[0];
      gid = Number(e[3]);
      home = e[5];
    }
  } else {
    const e = pw.find((f) => f[0] === u);
    if (!e) throw new TspodError(`unable to find user ${u}: no matching entries in passwd file`, 126);
    uid = Number(e[2]);
    gid = Number(e[3]);
    name = u;
    home = e[5];
  }
  if (g !== undefined && g !== "") {
    if (/^\d+$/.test(g)) gid = Number(g);
    else {
      const e = gr.find((f) => f[0] === g);
      if (!e) throw new TspodError(`unable to find group ${g}: no matching entries in group file`, 126);
      gid = Number(e[2]);
    }
  }
  gid ??= 0;
  // what the kernel takes (and Podman checks): more would wrap in the runtime's 32 bits
  if (uid > 2147483647 || gid > 2147483647) throw new UsageError(`uids and gids must be in range 0-2147483647 (-u ${spec})`);
  // Like runc: the primary group first, then every group listing the user as a member.
  const extra = name ? gr.filter((f) => f[3].split(",").includes(name!) && Number(f[2]) !== gid).map((f) => Number(f[2])) : [];
  return { uid, gid, groups: [gid, ...extra], home };
}

/** The image's /etc/passwd and /etc/group with entries for a uid or gid they lack (Podman's format); none when they have them. */
export function userEntries(layerDirs: string[], user: ResolvedUser, home: string): { file: string; destination: string; content: string }[] {
  const out: { file: string; destination: string; content: string }[] = [];
  const ids = (text: string, field: number) => new Set(text.split("\n").map((l) => l.split(":")[field]).filter((v) => v !== undefined));
  const passwd = readImageFile(layerDirs, "etc/passwd");
  if (user.uid === 0) return out;
  if (passwd !== undefined && !ids(passwd, 2).has(String(user.uid))) {
    out.push({ file: "passwd", destination: "/etc/passwd", content: `${passwd}${passwd.endsWith("\n") || !passwd ? "" : "\n"}${user.uid}:*:${user.uid}:${user.gid}:container user:${home}:/bin/sh\n` });
  }
  const group = readImageFile(layerDirs, "etc/group");
  if (group !== undefined && !ids(group, 2).has(String(user.gid))) {
    out.push({ file: "group", destination: "/etc/group", content: `${group}${group.endsWith("\n") || !group ? "" : "\n"}${user.gid}:x:${user.gid}:\n` });
  }
  return out;
}

export async function createContainer(ctx: Context, o: CreateOptions): Promise<{ id: string; name: string; image: ImageRecord }> {
  // refused before anything is pulled or made
  // (kept as SIGNAME however it was given: inspect shows one form)
  const stopSignal = o.stopSignal === undefined ? undefined : (await import("./lifecycle.ts")).signalName(o.stopSignal);
  if (o.stopTimeout !== undefined && o.stopTimeout < 0) throw new UsageError(`--stop-timeout ${o.stopTimeout}: seconds, 0 or more`);
  const caps = o.capAdd?.length || o.capDrop?.length ? mergeCaps(o.capAdd ?? [], o.capDrop ?? [], ctx.rootless) : undefined;
  const store = new ContainerStore(ctx);
  const images = new Images(ctx, (id) => store.usersOf(id));
  let image = o.pull === "always" ? undefined : images.find(o.image);
  if (!image) {
    if (o.pull === "never") throw new TspodError(`${o.image}: image not known`);
    const { Puller } = await import("../image/pull.ts");
    const r = await new Puller(ctx).pull(o.image, { tlsVerify: o.tlsVerify, onEvent: o.onPullEvent });
    image = r.image;
  }
  // layers missing, or unpacked before the user's id map changed: unpacked again from the stored blobs
  if (image.layers.some((l) => !images.store.hasCurrentLayer(l.diffID))) {
    const { Puller } = await import("../image/pull.ts");
    await new Puller(ctx).refreshLayers(image, { onEvent: o.onPullEvent });
  }
  const icfg = images.config(image);
  const imageName = images.nameFor(image, o.image);
  const c = icfg.config ?? {};
  const entrypoint: string[] = o.entrypoint !== undefined ? parseEntrypoint(o.entrypoint) : (c.Entrypoint ?? []);
  const cmd: string[] = o.command.length ? o.command : o.entrypoint !== undefined ? [] : (c.Cmd ?? []);
  const command = [...entrypoint, ...cmd];
  if (!command.length) throw new UsageError(`no command specified for ${o.image}: give one after the image name`);

  // Limits: only where cgroups are usable; otherwise refused clearly.
  const resources: ContainerConfig["resources"] = {};
  if (o.memory !== undefined) resources.memory = parseBytes(o.memory);
  if (o.cpus !== undefined) {
    const n = Number(o.cpus);
    if (!(n > 0)) throw new UsageError(`invalid --cpus "${o.cpus}"`);
    resources.cpus = n;
  }
  if (o.pidsLimit !== undefined) {
    const n = Number(o.pidsLimit);
    if (!Number.isInteger(n)) throw new UsageError(`invalid --pids-limit "${o.pidsLimit}"`);
    // -1 and 0 are "unlimited" (as Podman): no limit, so no cgroup is needed for it
    if (n > 0) resources.pidsLimit = n;
  }
  const cgInfo = probeCgroups();

  const exposed = [...new Set([...Object.keys(c.ExposedPorts ?? {}), ...parseExpose(o.expose ?? [])])];
  if (o.workdir !== undefined && !o.workdir.startsWith("/")) throw new UsageError(`the working directory "${o.workdir}" is invalid: it needs to be an absolute path`);
  const np = await planNetwork(ctx, store, o, exposed);
  // a pod's members have the pod's host name, as with Podman (which shares the pod's UTS namespace)
  if (np.pod && o.hostname !== undefined) throw new UsageError("cannot set hostname when joining the pod UTS namespace: set it on the pod (pod create --hostname)");
  // a shared network's hosts and resolv.conf are its owner's (as Podman says for pods)
  const nameFlags: [string, unknown[] | undefined][] = [["--add-host", o.addHosts], ["--dns", o.dns], ["--dns-search", o.dnsSearch], ["--dns-option", o.dnsOptions], ["--no-hosts", o.noHosts ? [true] : []]];
  const given = nameFlags.find(([, v]) => v?.length)?.[0];
  if (np.join && given) throw new UsageError(`${given} cannot be used with ${np.pod ? "--pod (set it on the pod)" : `--network ${o.network}`}: the shared network's /etc/hosts and /etc/resolv.conf are ${np.pod ? "the pod's" : "that container's"}`);
  if (o.noHosts && o.addHosts?.length) throw new UsageError("--no-hosts and --add-host cannot be set together");
  const network = np.net.mode === "container" ? `container:${np.join!.config.id}` : np.net.mode;

  const id = randomHex(32);
  const plan = cgroupPlan(id, cgInfo);
  const madeVolumes: string[] = []; // anonymous volumes this create made: gone again if it fails
  checkLimits(resources, plan, cgInfo);
  const name = o.name ?? reserveRandomName(store, id);
  if (o.name !== undefined) store.reserveName(name, id);
  try {
    const dir = store.path(id);
    // upper/ is the root directory the container sees: 0755 like an image's /, or non-root users cannot enter it.
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const [d, mode] of [["upper", 0o755], ["work", 0o700], ["merged", 0o755], ["userdata", 0o755]] as const) {
      mkdirSync(join(dir, d), { mode });
      chmodSync(join(dir, d), mode);
    }
    const layerDirs = [...image.layers].reverse().map((l) => images.store.diffPath(l.diffID));
    const user = resolveUser(o.user ?? (c.User || "0"), layerDirs);
    // --network host: the host's name, as Podman and Docker give it
    // (an empty --hostname is no host name: the default, as with Podman)
    const hostname = o.hostname || np.pod?.hostname || (np.net.mode === "host" ? osHostname() : id.slice(0, 12));
    // A user the image's /etc/passwd does not know gets HOME=<workdir> and an entry
    // in a copy of the image's passwd (and group) mounted over it, as with Podman.
    const workdir = o.workdir ?? (c.WorkingDir || "/");
    const home = user.home !== undefined ? user.home || "/root" : user.uid === 0 ? "/root" : workdir;
    const userEnv = parseEnv(o.env, o.envFiles);
    const env = mergeEnv(
      [DEFAULT_PATH, "TERM=xterm"],
      c.Env ?? [],
      ["container=tspod", `HOSTNAME=${hostname}`, `HOME=${home}`],
      userEnv,
    );
    const ud = join(dir, "userdata");
    writeFileAtomic(join(ud, "hostname"), `${hostname}\n`, 0o644, false);
    // joined network: that container's hosts and resolv.conf (a pod's lists every member)
    const netFiles = np.join ? join(np.join.dir, "userdata") : ud;
    const names = { addHosts: o.addHosts, dns: o.dns, dnsSearch: o.dnsSearch, dnsOptions: o.dnsOptions };
    const ownHosts = !np.join && !o.noHosts;
    const ownResolv = !np.join && !(o.dns?.length === 1 && o.dns[0] === "none");
    if (ownHosts) writeFileAtomic(join(ud, "hosts"), hostsFile(np.net, np.addresses, hostname, name, names), 0o644, false);
    if (ownResolv) writeFileAtomic(join(ud, "resolv.conf"), resolvConf(np.net, np.addresses, { ...names, dns: o.dns?.[0] === "none" ? [] : o.dns }), 0o644, false);
    const labels = parseLabels(o.labels, c.Labels ?? {});
    // (destinations normalised: /tmp/ is /tmp for every comparison below and in the spec)
    const userMounts = [...o.volumes.map(parseVolume), ...(o.mounts ?? []).map(parseMount), ...o.tmpfs.map(parseTmpfs)].map((m) => ({ ...m, destination: posixNormalize(m.destination) }));
    checkMountDestinations(userMounts);
    // the image's VOLUMEs a mount of the user's does not cover: anonymous volumes, as Podman's
    for (const d of Object.keys(c.Volumes ?? {}).filter(isAbsolute).map(posixNormalize).sort()) {
      if (!userMounts.some((m) => m.destination === d)) userMounts.push({ type: "bind", source: "", destination: d, options: [], volume: "", anonymous: true });
    }
    // the container's devices are tspod's (/dev/null, /dev/pts, ...): a mount over them would hide them all
    if (userMounts.some((m) => m.destination === "/dev")) throw new UsageError(`cannot mount over /dev: the container's devices are made there`);
    if (userMounts.some((m) => m.volume !== undefined)) {
      const vols = new VolumeStore(ctx);
      for (const m of userMounts) {
        if (m.volume === undefined) continue;
        // (its first use copies the image's content in: the runtime does, see spec.ts)
        const vol = m.anonymous ? vols.create(undefined, { anonymous: true }) : vols.create(m.volume, { ifExists: true });
        if (m.anonymous) madeVolumes.push(vol.Name);
        m.volume = vol.Name;
        m.source = vol.Mountpoint;
        // as Podman mounts volumes: no setuid programs nor device nodes from them (copied up from an image too)
        for (const f of ["nosuid", "nodev"]) if (!m.options.includes(f)) m.options.push(f);
      }
    }
    writeFileAtomic(join(ud, ".containerenv"), `engine="tspod"\nname="${name}"\nid="${id}"\nimage="${imageName}"\nimageid="${image.id}"\nrootless=${ctx.rootless ? 1 : 0}\n`, 0o644, false);
    const own: MountSpec[] = [
      { type: "bind", source: join(ud, "hostname"), destination: "/etc/hostname", options: [] },
      // --no-hosts / --dns none: the image's own file (a joined network's files are that container's)
      ...(np.join || ownHosts ? [{ type: "bind" as const, source: join(netFiles, "hosts"), destination: "/etc/hosts", options: [] }] : []),
      ...(np.join || ownResolv ? [{ type: "bind" as const, source: join(netFiles, "resolv.conf"), destination: "/etc/resolv.conf", options: [] }] : []),
      { type: "bind", source: join(ud, ".containerenv"), destination: "/run/.containerenv", options: ["ro"] },
    ];
    // (one of these the user mounts a file of their own on: theirs alone, as Podman)
    const mounts: MountSpec[] = [...own.filter((m) => !userMounts.some((u) => u.destination === m.destination)), ...userMounts];
    for (const extra of userEntries(layerDirs, user, home)) {
      if (mounts.some((m) => m.destination === extra.destination)) continue;
      writeFileAtomic(join(ud, extra.file), extra.content, 0o644, false);
      mounts.push({ type: "bind", source: join(ud, extra.file), destination: extra.destination, options: [] });
    }
    if (o.readOnly && o.readOnlyTmpfs !== false) {
      for (const d of ["/tmp", "/var/tmp", "/run"]) if (!mounts.some((m) => m.destination === d)) mounts.push(parseTmpfs(d));
    }
    const cfg: ContainerConfig = {
      id,
      name,
      created: new Date().toISOString(),
      image: { id: image.id, name: imageName },
      command,
      entrypoint,
      cmd,
      env,
      userEnv,
      workdir: o.workdir ?? (c.WorkingDir || "/"),
      user: o.user ?? (c.User || ""),
      hostname,
      tty: o.tty,
      interactive: o.interactive,
      autoRemove: o.rm,
      init: o.init,
      readOnly: o.readOnly,
      noNewPrivileges: !!o.noNewPrivileges,
      ...(o.seccompUnconfined ? { seccompUnconfined: true } : {}),
      ...(o.apparmorUnconfined ? { apparmorUnconfined: true } : {}),
      ...(caps ? { caps: caps.caps, capAdd: caps.added } : {}),
      network,
      networkOptions: np.net.options,
      ports: np.ports,
      exposedPorts: exposed,
      netAddresses: np.addresses,
      ...(o.dns?.length ? { dns: o.dns } : {}),
      ...(o.dnsSearch?.length ? { dnsSearch: o.dnsSearch } : {}),
      ...(o.dnsOptions?.length ? { dnsOptions: o.dnsOptions } : {}),
      ...(o.addHosts?.length ? { extraHosts: o.addHosts } : {}),
      ...(o.noHosts ? { noHosts: true } : {}),
      pod: np.pod?.id,
      mounts,
      driver: chooseDriver(ctx),
      stopSignal: stopSignal ?? c.StopSignal ?? "SIGTERM",
      stopTimeout: o.stopTimeout ?? 10,
      labels,
      resources,
    };
    const maps = userNsMaps();
    if (ctx.rootless && !maps.full) warnOnce("single-id-map", "no /etc/subuid or /etc/subgid range for this user: containers get a single-id map (only uid 0 and gid 0 exist inside)");
    const spec = buildSpec({
      cfg,
      cgroupProcs: plan ? createCgroups(plan, resources) : [],
      user,
      maps,
      rootless: ctx.rootless,
      lowerBase: join(ctx.root, "layers"),
      lowers: [...image.layers].reverse().map((l) => `${l.diffID.slice(7)}/diff`),
      dir,
      netRecords: netRecordsFor(ctx, id, dir, np.net, np.ports, np.join && store.path(np.join.config.id, "spec"), false, !!o.seccompUnconfined),
    });
    if (cfg.driver === "vfs") {
      const { copyLayers } = await import("./driver.ts");
      copyLayers(ctx, layerDirs, join(dir, "merged"));
    }
    writeFileAtomic(join(dir, "spec"), spec, 0o600, false);
    store.saveConfig(cfg);
    writeJsonAtomic(join(dir, "state.json"), { status: "created", pid: 0, monitorPid: 0 }, 0o600, false);
    if (np.join) {
      // the joined container knows who depends on it (rm refuses to take it away from under them)
      mkdirSync(join(np.join.dir, "dependents"), { recursive: true, mode: 0o700 });
      writeFileSync(join(np.join.dir, "dependents", id), "");
    }
    if (np.pod) new PodStore(ctx).updateHosts(np.pod, join(netFiles, "hosts"), name, name);
    return { id, name, image };
  } catch (e) {
    removeCgroups(plan);
    store.releaseName(name, id);
    try {
      images.store.removeTree(store.path(id));
    } catch {}
    // the anonymous volumes made for it (named ones stay, as Podman's)
    for (const v of madeVolumes) {
      try {
        new VolumeStore(ctx).remove(v, () => []);
      } catch {}
    }
    throw e;
  }
}

/**
 * A pod's infra container: no image and no root filesystem, a pause process
 * that holds the pod's network (pasta / slirp4netns attached to it) and whose
 * /etc/hosts every member shares.
 */
export function createInfraContainer(ctx: Context, pod: { id: string; name: string; hostname: string; net: NetworkChoice; ports: PortMapping[]; labels: Record<string, string>; names?: NameOptions }): string {
  const store = new ContainerStore(ctx);
  const id = randomHex(32);
  const name = `${pod.id.slice(0, 12)}-infra`;
  store.reserveName(name, id);
  try {
    const dir = store.path(id);
    mkdirSync(join(dir, "userdata"), { recursive: true, mode: 0o700 });
    chmodSync(join(dir, "userdata"), 0o755);
    const ud = join(dir, "userdata");
    const addresses = addressesFor(pod.net);
    writeFileAtomic(join(ud, "hostname"), `${pod.hostname}\n`, 0o644, false);
    writeFileAtomic(join(ud, "hosts"), hostsFile(pod.net, addresses, pod.hostname, pod.name, pod.names), 0o644, false);
    writeFileAtomic(join(ud, "resolv.conf"), resolvConf(pod.net, addresses, pod.names), 0o644, false);
    const cfg: ContainerConfig = {
      id,
      name,
      created: new Date().toISOString(),
      image: { id: "", name: "" },
      command: ["tspod-pause"],
      entrypoint: [],
      cmd: ["tspod-pause"],
      env: [],
      workdir: "/",
      user: "",
      hostname: pod.hostname,
      tty: false,
      interactive: false,
      autoRemove: false,
      init: false,
      readOnly: false,
      network: pod.net.mode,
      networkOptions: pod.net.options,
      ports: pod.ports,
      exposedPorts: [],
      netAddresses: addresses,
      pod: pod.id,
      infra: true,
      mounts: [],
      driver: "vfs",
      stopSignal: "SIGTERM",
      stopTimeout: 10,
      labels: pod.labels,
      resources: {},
    };
    const spec = buildSpec({
      cfg,
      cgroupProcs: [],
      user: { uid: 0, gid: 0, groups: [0] },
      maps: userNsMaps(),
      rootless: ctx.rootless,
      lowerBase: "",
      lowers: [],
      dir,
      netRecords: netRecordsFor(ctx, id, dir, pod.net, pod.ports, undefined, true),
    });
    writeFileAtomic(join(dir, "spec"), spec, 0o600, false);
    store.saveConfig(cfg);
    writeJsonAtomic(join(dir, "state.json"), { status: "created", pid: 0, monitorPid: 0 }, 0o600, false);
    return id;
  } catch (e) {
    store.releaseName(name, id);
    rmSync(store.path(id), { recursive: true, force: true });
    throw e;
  }
}

interface NetworkPlan {
  net: NetworkChoice;
  ports: PortMapping[];
  addresses: NetAddresses;
  /** container:ID and pods: the container whose network namespace is joined */
  join?: Container;
  pod?: PodConfig;
}

/** --network, --pod, -p and -P into one decision, checked before anything is written. */
/** --expose values as EXPOSE keys ("80/tcp"); a range gives each port. */
export function parseExpose(list: string[]): string[] {
  return list.flatMap((e) => {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp))?$/.exec(e.trim());
    if (!m) throw new UsageError(`invalid --expose "${e}": use PORT, PORT-PORT, with /tcp or /udp`);
    const lo = Number(m[1]), hi = Number(m[2] ?? m[1]);
    if (lo < 1 || hi > 65535 || hi < lo) throw new UsageError(`invalid --expose "${e}": ports are 1-65535, low to high`);
    return Array.from({ length: hi - lo + 1 }, (_, i) => `${lo + i}/${m[3] ?? "tcp"}`);
  });
}

export async function planNetwork(ctx: Context, store: ContainerStore, o: Pick<CreateOptions, "network" | "publish" | "publishAll" | "pod">, exposed: string[]): Promise<NetworkPlan> {
  const publish = o.publish ?? [];
  const asked = parseNetwork(o.network);
  if (o.pod) {
    const pod = new PodStore(ctx).lookup(o.pod);
    if (asked) throw new UsageError(`--network cannot be used with --pod: the container shares the network of pod ${pod.name}`);
    if (publish.length || o.publishAll) throw new UsageError(`ports of a pod are published when the pod is created (tspod pod create -p ...), not by its containers`);
    const join = store.lookup(pod.infraId);
    return { net: { mode: "container", target: join.config.id, options: [] }, ports: [], addresses: join.config.netAddresses ?? {}, join, pod };
  }
  const net = asked ?? defaultNetwork();
  if (net.mode === "container") {
    const join = store.lookup(net.target!);
    if (join.config.network.startsWith("container:")) throw new UsageError(`container ${join.config.name} shares another container's network: join that one (${join.config.network})`);
    if (publish.length || o.publishAll) throw new UsageError(`conflicting options: port publishing and the container network mode (publish ports on ${join.config.name})`);
    return { net, ports: [], addresses: join.config.netAddresses ?? {}, join };
  }
  let ports: PortMapping[] = publish.flatMap(parsePublish);
  if (o.publishAll) {
    const have = new Set(ports.flatMap((p) => Array.from({ length: p.range }, (_, i) => `${p.containerPort + i}/${p.protocol}`)));
    ports.push(...exposedToMappings(Object.fromEntries(exposed.map((e) => [e, {}]))).filter((p) => !have.has(`${p.containerPort}/${p.protocol}`)));
  }
  if (ports.length && net.mode === "host") {
    log("warn", "published ports are discarded when using the host's network");
    ports = [];
  }
  checkPortsForNetwork(ports, net.mode);
  ports = await assignHostPorts(ports);
  checkConflicts(ports);
  return { net, ports, addresses: addressesFor(net) };
}

/**
 * The helper's spec records for pasta / slirp4netns; joining another
 * container's network, the ports it serves without a forwarder (its processes
 * bind them too); none for the other modes.
 */
export function netRecordsFor(ctx: Context, id: string, dir: string, net: NetworkChoice, ports: PortMapping[], joined?: string, infra = false, unconfined = false): [string, string][] {
  // (unconfined: no filter for lent ports either; the owner's port then stays the owner's)
  if (net.mode === "container" && joined) return unconfined ? [] : specLendRecords(joined);
  if (net.mode !== "pasta" && net.mode !== "slirp4netns") return [];
  return helperRecords({ net, helper: helperPath(net.mode), ports, dir, apiSocket: join(ctx.runroot, "sock", `${id.slice(0, 12)}-net`), rootless: ctx.rootless, lazy: !infra, unconfined });
}

