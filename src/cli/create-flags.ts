// Flags shared by `run` and `create`, and turning them into CreateOptions.
import { Flags } from "@oclif/core";
import { tlsVerifyFlag } from "./flags.ts";
import { UsageError } from "../errors.ts";
import type { CreateOptions } from "../container/create.ts";

export const createFlags = {
  name: Flags.string({ description: "name of the container" }),
  env: Flags.string({ char: "e", multiple: true, multipleNonGreedy: true, description: "set environment variables (KEY=VALUE, or KEY to copy the host's)" }),
  "env-file": Flags.string({ multiple: true, multipleNonGreedy: true, description: "read environment variables from a file" }),
  workdir: Flags.string({ char: "w", description: "working directory inside the container" }),
  user: Flags.string({ char: "u", description: "user[:group] to run as (name or id)" }),
  entrypoint: Flags.string({ description: "override the image's entrypoint (a string or a JSON array)" }),
  hostname: Flags.string({ char: "h", description: "container host name" }),
  interactive: Flags.boolean({ char: "i", description: "keep stdin open" }),
  tty: Flags.boolean({ char: "t", description: "allocate a pseudo-terminal" }),
  rm: Flags.boolean({ description: "remove the container when it exits" }),
  init: Flags.boolean({ description: "run a built-in reaper as PID 1 that forwards signals" }),
  "read-only": Flags.boolean({ description: "mount the root filesystem read-only" }),
  network: Flags.string({ aliases: ["net"], description: "pasta, slirp4netns, none, host or container:NAME (default: pasta if installed, else slirp4netns)" }),
  publish: Flags.string({ char: "p", multiple: true, multipleNonGreedy: true, description: "publish a port: [[IP:][HOSTPORT]:]CONTAINERPORT[/tcp|/udp], ranges like 8000-8002:80-82" }),
  "publish-all": Flags.boolean({ char: "P", description: "publish every port the image exposes on a free host port" }),
  pod: Flags.string({ description: "run in this pod (share its network: members reach each other by name)" }),
  volume: Flags.string({ char: "v", multiple: true, multipleNonGreedy: true, description: "bind mount HOST-PATH:CONTAINER-PATH[:ro]" }),
  tmpfs: Flags.string({ multiple: true, multipleNonGreedy: true, description: "mount a tmpfs at PATH[:OPTIONS]" }),
  pull: Flags.string({ description: "pull policy", options: ["always", "missing", "never", "newer"], default: "missing" }),
  "tls-verify": tlsVerifyFlag,
  memory: Flags.string({ char: "m", description: "memory limit (needs a usable cgroup)" }),
  cpus: Flags.string({ description: "number of CPUs (needs a usable cgroup)" }),
  "pids-limit": Flags.string({ description: "process limit (needs a usable cgroup)" }),
  label: Flags.string({ char: "l", multiple: true, multipleNonGreedy: true, description: "KEY=VALUE metadata" }),
  "quiet-pull": Flags.boolean({ char: "q", description: "no pull progress" }),
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
    network: flags.network,
    publish: flags.publish ?? [],
    publishAll: !!flags["publish-all"],
    pod: flags.pod,
    volumes: flags.volume ?? [],
    tmpfs: flags.tmpfs ?? [],
    pull: flags.pull === "newer" ? "missing" : flags.pull,
    tlsVerify: flags["tls-verify"],
    memory: flags.memory,
    cpus: flags.cpus,
    pidsLimit: flags["pids-limit"],
    labels: flags.label ?? [],
    quietPull: !!flags["quiet-pull"],
  };
}
