// Small container commands: start, stop, kill, rm, wait, restart, rename,
// pause, unpause, exists, prune, and the monitor's hidden cleanup.
import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { TspodError, UsageError } from "../errors.ts";
import { each } from "./each.ts";
import { oclifCommand } from "./oclif-flags.ts";
import rmImpl from "./impl/rm.ts";
import cleanupImpl from "./impl/cleanup.ts";

async function lifecycle(ctx: any) {
  const { Lifecycle } = await import("../container/lifecycle.ts");
  return new Lifecycle(ctx);
}

/** start reports a command that cannot run (126/127 from run) as an engine error, 125, as Podman's start does. */
async function asStartError<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (e instanceof TspodError && (e.exitCode === 126 || e.exitCode === 127)) e.exitCode = 125;
    throw e;
  }
}

export class Start extends BaseCommand {
  static override description = "Start one or more containers";
  static override aliases = ["container:start"];
  static override strict = false;
  static override args = { container: Args.string({ required: true }) };
  static override flags = {
    attach: Flags.boolean({ char: "a", description: "attach to the container's output" }),
    interactive: Flags.boolean({ char: "i", description: "attach stdin" }),
  };
  async run() {
    const { flags, argv } = await this.setup(Start);
    const lc = await lifecycle(this.context);
    if (flags.attach || flags.interactive) {
      if (argv.length !== 1) throw new UsageError("you cannot start and attach multiple containers at once");
      const c = lc.store.lookup(argv[0]);
      await asStartError(lc.start(c, { attach: true, stdin: flags.interactive || c.config.interactive }));
      const { attachSession } = await import("./attach-session.ts");
      const end = await attachSession({ sock: lc.store.sockPath(c.config.id), tty: c.config.tty, stdin: !!flags.interactive, start: true });
      if (end.kind === "error") throw new TspodError(end.message, 125); // as Podman's start: 125, where run says 126/127
      if (end.kind === "exit" && end.code !== 0) this.exit(end.code);
      return;
    }
    await each(argv as string[], async (n) => {
      const c = lc.store.lookup(n);
      if (c.state.status === "running") return n;
      const { AlreadyRunningError } = await import("../container/lifecycle.ts");
      // (another start got there first: it runs, which is what was asked)
      await asStartError(lc.start(c, { attach: false, stdin: c.config.interactive })).catch((e) => {
        if (!(e instanceof AlreadyRunningError)) throw e;
      });
      return n;
    });
  }
}

export class Stop extends BaseCommand {
  static override description = "Stop containers: STOPSIGNAL, then SIGKILL after the timeout";
  static override aliases = ["container:stop"];
  static override strict = false;
  static override args = { container: Args.string({ required: false }) };
  static override flags = {
    time: Flags.integer({ char: "t", min: 0, max: 2147483647, description: "seconds to wait before SIGKILL (default 10)" }),
    all: Flags.boolean({ char: "a", description: "stop all running containers" }),
  };
  async run() {
    const { flags, argv } = await this.setup(Stop);
    const lc = await lifecycle(this.context);
    const names = flags.all ? lc.store.list().filter((c) => c.state.status === "running").map((c) => c.config.id) : (argv as string[]);
    if (flags.all && !names.length) return;
    // all at once, as Podman: each may wait its whole timeout
    await each(
      names,
      async (n) => {
        await lc.stop(lc.store.lookup(n), flags.time);
        return flags.all ? n.slice(0, 12) : n;
      },
      { parallel: true },
    );
  }
}

export class Kill extends BaseCommand {
  static override description = "Send a signal to containers (default SIGKILL)";
  static override aliases = ["container:kill"];
  static override strict = false;
  static override args = { container: Args.string({ required: true }) };
  static override flags = { signal: Flags.string({ char: "s", description: "signal name or number", default: "SIGKILL" }) };
  async run() {
    const { flags, argv } = await this.setup(Kill);
    const lc = await lifecycle(this.context);
    const { parseSignal } = await import("../container/lifecycle.ts");
    const sig = parseSignal(flags.signal);
    await each(argv as string[], async (n) => {
      lc.kill(lc.store.lookup(n), sig);
      return n;
    });
  }
}

export const Rm = oclifCommand(rmImpl, {
  description: "Remove containers",
  aliases: ["container:rm"],
  strict: false,
  args: [{ name: "container" }],
});

export class Wait extends BaseCommand {
  static override description = "Wait for containers to exit and print their exit codes";
  static override aliases = ["container:wait"];
  static override strict = false;
  static override args = { container: Args.string({ required: true }) };
  static override flags = {
    condition: Flags.string({
      description: "the state to wait for (default stopped): created, running, paused, stopping, stopped (exited); several: any of them",
      multiple: true,
      multipleNonGreedy: true, // --condition running NAME: NAME is the container
    }),
  };
  async run() {
    const { flags, argv } = await this.setup(Wait);
    const lc = await lifecycle(this.context);
    const conds = ((flags.condition ?? []) as string[]).map((c) => (c === "stopped" ? "exited" : c));
    const known = ["created", "running", "paused", "stopping", "exited"];
    const bad = conds.find((c: string) => !known.includes(c));
    if (bad) throw new UsageError(`invalid --condition "${bad}": use ${[...known.slice(0, 4), "stopped", "exited"].join(", ")}`);
    // As Podman: every name must be there (or an ID whose exit is kept) before anything is waited for
    const kept = (n: string) => (/^[0-9a-f]{64}$/.test(n) && !lc.store.find(n) ? lc.store.keptExit(n) : undefined);
    for (const n of argv as string[]) if (kept(n) === undefined) lc.store.lookup(n);
    // As Podman: the exit code when waiting for the container to stop, else -1
    if (!conds.length || (conds.length === 1 && conds[0] === "exited")) {
      await each(argv as string[], async (n) => {
        // `id=$(tspod run -d --rm ...); tspod wait $id`: a short one may be gone already; its code is kept a while
        return String(kept(n) ?? (await lc.wait(lc.store.lookup(n).config.id)));
      });
      return;
    }
    await each(argv as string[], async (n) => {
      const id = lc.store.lookup(n).config.id;
      for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
        const c = lc.store.load(id);
        if (!c) throw new TspodError(`container ${id} was removed`);
        // stopped (exited) includes never started, as Podman's and a plain wait have it
        const stoppedToo = conds.includes("exited") && c.state.status === "created";
        if (conds.includes(c.state.status) || stoppedToo) return c.state.status === "exited" || stoppedToo ? String(c.state.exitCode ?? 0) : "-1";
        await Bun.sleep(delay);
      }
    });
  }
}

export class Restart extends BaseCommand {
  static override description = "Stop and start containers";
  static override aliases = ["container:restart"];
  static override strict = false;
  static override args = { container: Args.string({ required: true }) };
  static override flags = { time: Flags.integer({ char: "t", min: 0, max: 2147483647, description: "seconds to wait before SIGKILL" }) };
  async run() {
    const { flags, argv } = await this.setup(Restart);
    const lc = await lifecycle(this.context);
    await each(argv as string[], async (n) => {
      await lc.restart(lc.store.lookup(n), flags.time);
      return n;
    });
  }
}

export class Rename extends BaseCommand {
  static override description = "Rename a container";
  static override aliases = ["container:rename"];
  static override args = { container: Args.string({ required: true }), name: Args.string({ required: true }) };
  async run() {
    const { args } = await this.setup(Rename);
    const lc = await lifecycle(this.context);
    const c = lc.store.lookup(args.container);
    if (c.config.name === args.name) return; // its own name already: nothing to do (as Podman)
    lc.store.reserveName(args.name, c.config.id);
    const cfg = { ...c.config, name: args.name };
    lc.store.saveConfig(cfg);
    lc.store.releaseName(c.config.name, c.config.id);
    lc.renameInHosts(c, args.name);
  }
}

export class Pause extends BaseCommand {
  static override description = "Pause all processes of containers";
  static override aliases = ["container:pause"];
  static override strict = false;
  static override args = { container: Args.string({ required: true }) };
  async run() {
    const { argv } = await this.setup(Pause);
    const lc = await lifecycle(this.context);
    await each(argv as string[], async (n) => {
      await lc.pause(lc.store.lookup(n));
      return n;
    });
  }
}

export class Unpause extends BaseCommand {
  static override description = "Resume paused containers";
  static override aliases = ["container:unpause"];
  static override strict = false;
  static override args = { container: Args.string({ required: true }) };
  async run() {
    const { argv } = await this.setup(Unpause);
    const lc = await lifecycle(this.context);
    await each(argv as string[], async (n) => {
      await lc.unpause(lc.store.lookup(n));
      return n;
    });
  }
}

export class ContainerExists extends BaseCommand {
  static override description = "Exit 0 if the container exists, 1 if not";
  static override args = { container: Args.string({ required: true }) };
  async run() {
    const { args } = await this.setup(ContainerExists);
    const lc = await lifecycle(this.context);
    if (!lc.store.find(args.container)) this.exit(1);
  }
}

export class ContainerPrune extends BaseCommand {
  static override description = "Remove all stopped containers";
  static override flags = { force: Flags.boolean({ char: "f", description: "do not ask (tspod never asks)" }) };
  async run() {
    await this.setup(ContainerPrune);
    const lc = await lifecycle(this.context);
    for (const c of lc.store.list()) {
      // a pod's infra goes with its pod only; a container others share the network of stays
      if ((c.state.status === "exited" || c.state.status === "created") && !c.config.infra && !lc.dependents(c).length) {
        lc.destroy(c);
        this.out(c.config.id);
      }
    }
  }
}

export const ContainerCleanup = oclifCommand(cleanupImpl, {
  description: "Clean up after a container's exit (run by its monitor)",
  hidden: true,
  args: [{ name: "container", required: true }],
});
