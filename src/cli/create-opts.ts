// run/create options: flag definitions (no oclif import: the lean path uses them) and CreateOptions.
import { UsageError } from "../errors.ts";
import type { CreateOptions } from "../container/create.ts";
import type { FlagDefs } from "./spec.ts";

export const CREATE_FLAGS: FlagDefs = {
  name: { type: "string", description: "name of the container" },
  env: { type: "string", char: "e", multiple: true, description: "set environment variables (KEY=VALUE, or KEY to copy the host's)" },
  "env-file": { type: "string", multiple: true, description: "read environment variables from a file" },
  workdir: { type: "string", char: "w", description: "working directory inside the container" },
  user: { type: "string", char: "u", description: "user[:group] to run as (name or id)" },
  entrypoint: { type: "string", description: "override the image's entrypoint (a string or a JSON array)" },
  hostname: { type: "string", char: "h", description: "container host name" },
  interactive: { type: "boolean", char: "i", description: "keep stdin open" },
  tty: { type: "boolean", char: "t", description: "allocate a pseudo-terminal" },
  rm: { type: "boolean", description: "remove the container when it exits" },
  init: { type: "boolean", description: "run a built-in reaper as PID 1 that forwards signals" },
  "read-only": { type: "boolean", description: "mount the root filesystem read-only" },
  "read-only-tmpfs": { type: "boolean", allowNo: true, default: true, description: "with --read-only, tmpfs on /tmp, /var/tmp and /run (default true)" },
  "security-opt": { type: "string", multiple: true, description: "no-new-privileges, seccomp=unconfined (apparmor=unconfined and label=... are accepted and ignored: tspod applies neither)" },
  "cap-add": { type: "string", multiple: true, description: "add capabilities (NET_ADMIN or CAP_NET_ADMIN, comma-separated lists, ALL)" },
  "cap-drop": { type: "string", multiple: true, description: "drop capabilities from the default set (names as --cap-add's, ALL)" },
  network: { type: "string", aliases: ["net"], description: "pasta, slirp4netns, none, host or container:NAME (default: pasta if installed, else slirp4netns)" },
  publish: { type: "string", char: "p", multiple: true, description: "publish a port: [[IP:][HOSTPORT]:]CONTAINERPORT[/tcp|/udp], ranges like 8000-8002:80-82" },
  "publish-all": { type: "boolean", char: "P", description: "publish every port the image exposes on a free host port" },
  expose: { type: "string", multiple: true, description: "expose a port or a range (PORT[-PORT][/tcp|/udp]) besides the image's: -P publishes it" },
  pod: { type: "string", description: "run in this pod (share its network: members reach each other by name)" },
  "add-host": { type: "string", multiple: true, description: "add HOST:IP to /etc/hosts (IP may be host-gateway: the host as the container reaches it)" },
  dns: { type: "string", multiple: true, description: "DNS server for /etc/resolv.conf (none: no resolv.conf of tspod's)" },
  "dns-search": { type: "string", multiple: true, description: "DNS search domain for /etc/resolv.conf (. for none)" },
  "dns-option": { type: "string", multiple: true, description: "DNS option for /etc/resolv.conf (ndots:2, ...)" },
  "no-hosts": { type: "boolean", description: "leave the image's /etc/hosts alone (tspod writes none)" },
  volume: { type: "string", char: "v", multiple: true, description: "HOST-PATH:CONTAINER-PATH[:OPTIONS] (a bind mount), NAME:CONTAINER-PATH[:OPTIONS] (a named volume, made if there is none; nocopy: not filled from the image), or CONTAINER-PATH alone (an anonymous volume); OPTIONS ro, rw, nosuid, nodev, noexec (z, Z accepted)" },
  tmpfs: { type: "string", multiple: true, description: "mount a tmpfs at PATH[:OPTIONS]" },
  mount: { type: "string", multiple: true, description: "type=bind|volume|tmpfs,source=..,destination=..[,readonly] (Docker's --mount; a volume without a source is anonymous)" },
  pull: { type: "string", description: "pull policy", options: ["always", "missing", "never", "newer"], default: "missing" },
  "tls-verify": { type: "boolean", allowNo: true, description: "require HTTPS and verify certificates (--tls-verify=false allows plain HTTP)" },
  memory: { type: "string", char: "m", description: "memory limit (needs a usable cgroup)" },
  cpus: { type: "string", description: "number of CPUs (needs a usable cgroup)" },
  "pids-limit": { type: "string", description: "process limit (needs a usable cgroup)" },
  label: { type: "string", char: "l", multiple: true, description: "KEY=VALUE metadata" },
  "stop-signal": { type: "string", description: "signal stop sends first (default: the image's STOPSIGNAL, else SIGTERM)" },
  "stop-timeout": { type: "integer", description: "seconds stop waits after it before SIGKILL (default 10)" },
  "quiet-pull": { type: "boolean", char: "q", description: "no pull progress" },
};


export function createOptions(flags: any, argv: string[]): CreateOptions {
  const [image, ...command] = argv;
  if (!image) throw new UsageError("an image name is required");
  return {
    image,
    command,
    name: flags.name,
    env: flags.env ?? [],
    envFiles: flags["env-file"] ?? [],
    workdir: flags.workdir,
    user: flags.user,
    entrypoint: flags.entrypoint,
    hostname: flags.hostname,
    tty: !!flags.tty,
    interactive: !!flags.interactive,
    rm: !!flags.rm,
    init: !!flags.init,
    readOnly: !!flags["read-only"],
    readOnlyTmpfs: flags["read-only-tmpfs"] !== false,
    ...securityOpts(flags["security-opt"] ?? []),
    capAdd: flags["cap-add"] ?? [],
    capDrop: flags["cap-drop"] ?? [],
    network: flags.network,
    publish: flags.publish ?? [],
    publishAll: !!flags["publish-all"],
    addHosts: flags["add-host"] ?? [],
    dns: flags.dns ?? [],
    dnsSearch: flags["dns-search"] ?? [],
    dnsOptions: flags["dns-option"] ?? [],
    noHosts: !!flags["no-hosts"],
    expose: flags.expose ?? [],
    pod: flags.pod,
    volumes: flags.volume ?? [],
    mounts: flags.mount ?? [],
    tmpfs: flags.tmpfs ?? [],
    pull: flags.pull === "newer" ? "missing" : flags.pull,
    tlsVerify: flags["tls-verify"],
    memory: flags.memory,
    cpus: flags.cpus,
    pidsLimit: flags["pids-limit"],
    labels: flags.label ?? [],
    stopSignal: flags["stop-signal"],
    stopTimeout: flags["stop-timeout"],
    quietPull: !!flags["quiet-pull"],
  };
}

/**
 * --security-opt: no-new-privileges[=true|false]; seccomp=unconfined (none of
 * tspod's keyring filter); apparmor=unconfined and label=... accepted as no-ops
 * (tspod applies no AppArmor profile and no SELinux label); anything else refused.
 */
function securityOpts(opts: string[]): { noNewPrivileges: boolean; seccompUnconfined: boolean; apparmorUnconfined: boolean } {
  let nnp = false, unconfined = false, apparmor = false;
  for (const o of opts) {
    const [k, v = "true"] = o.split(/[=:]/, 2);
    if (k === "no-new-privileges" && (v === "true" || v === "false")) nnp = v === "true";
    else if (k === "seccomp" && v === "unconfined") unconfined = true;
    else if (k === "seccomp") throw new UsageError(`--security-opt ${o}: seccomp profiles are not supported (tspod's filter blocks only the kernel keyring calls; seccomp=unconfined removes it)`);
    else if (k === "apparmor" && v === "unconfined") apparmor = true;
    else if (k === "label") continue;
    else throw new UsageError(`--security-opt ${o}: supported are no-new-privileges, seccomp=unconfined, apparmor=unconfined and label=...`);
  }
  return { noNewPrivileges: nnp, seccompUnconfined: unconfined, apparmorUnconfined: apparmor };
}
