import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { TspodError } from "../errors.ts";
import { rawOutput } from "../sys/libc.ts";

export default class Exec extends BaseCommand {
  static override description = "Run a process in a running container";
  static override aliases = ["container:exec"];
  static override strict = false;
  static stopAtPositional = true;
  static override examples = ["tspod exec web ls /", "tspod exec -it web sh", "tspod exec -u 33 -w /tmp -e X=1 web env"];
  static override args = { container: Args.string({ required: true }), command: Args.string({ required: false, description: "command and arguments" }) };
  static override flags = {
    interactive: Flags.boolean({ char: "i", description: "keep stdin open" }),
    tty: Flags.boolean({ char: "t", description: "allocate a pseudo-terminal" }),
    detach: Flags.boolean({ char: "d", description: "run in the background" }),
    privileged: Flags.boolean({ description: "every capability (of the container's user namespace), as Podman's exec --privileged" }),
    env: Flags.string({ char: "e", multiple: true, multipleNonGreedy: true, description: "set environment variables" }),
    "env-file": Flags.string({ multiple: true, multipleNonGreedy: true, description: "read environment variables from a file" }),
    user: Flags.string({ char: "u", description: "user[:group]" }),
    workdir: Flags.string({ char: "w", description: "working directory" }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.setup(Exec);
    const [name, ...command] = argv as string[];
    if (!command.length) throw new TspodError("exec: a command is required");
    const { ContainerStore } = await import("../container/record.ts");
    const { parseEnv, mergeEnv, resolveUser } = await import("../container/create.ts");
    const { Images } = await import("../image/images.ts");
    const { helperPath } = await import("../sys/native.ts");
    const store = new ContainerStore(this.context);
    const c = store.lookup(name);
    if (c.state.status !== "running") throw new TspodError(`can only create exec sessions on running containers: container state improper`);
    const args = ["exec", "--spec", store.path(c.config.id, "spec"), "--pid", String(c.state.pid), "--monitor-sock", store.sockPath(c.config.id)];
    const env = mergeEnv(c.config.env, parseEnv(flags.env ?? [], flags["env-file"] ?? []));
    for (const e of env) args.push("--env", e);
    if (flags.user) {
      const images = new Images(this.context);
      const img = images.store.image(c.config.image.id);
      const layers = img ? [...img.layers].reverse().map((l) => images.store.diffPath(l.diffID)) : [];
      const u = resolveUser(flags.user, layers);
      args.push("--uid", String(u.uid), "--gid", String(u.gid));
    }
    if (flags.workdir) args.push("--cwd", flags.workdir);
    if (flags.tty) args.push("--tty");
    if (flags.detach) args.push("--detach");
    if (flags.privileged) args.push("--privileged");
    args.push("--errfd", "3", "--", ...command);
    const raw = flags.tty && process.stdin.isTTY;
    if (raw) {
      process.stdin.setRawMode(true);
      rawOutput(0);
    }
    const restore = () => raw && process.stdin.setRawMode(false);
    process.on("exit", restore);
    try {
      // Start errors come on fd 3 (a pipe read once the helper is done); the
      // process's own stdout and stderr pass straight through.
      const p = Bun.spawn([helperPath(), ...args], { stdio: [flags.interactive && !flags.detach ? "inherit" : "ignore", "inherit", "inherit", "pipe"] });
      const errFd = (p as any).stdio[3] as number;
      const code = await p.exited;
      restore();
      const errText = readAll(errFd);
      if (errText.trim()) throw new TspodError(errText.trim().split("\n").pop()!.replace(/^tspod-rt: (exec: )?/, ""), code >= 125 ? code : 125);
      if (code !== 0) this.exit(code);
    } finally {
      restore();
    }
  }
}

/** Everything left in a pipe whose writers are gone. */
function readAll(fd: number): string {
  const { readSync, closeSync } = require("node:fs") as typeof import("node:fs");
  const buf = Buffer.alloc(64 * 1024);
  let out = "";
  try {
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) out += buf.toString("utf8", 0, n);
  } catch {}
  try {
    closeSync(fd);
  } catch {}
  return out;
}
