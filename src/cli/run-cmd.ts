import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { createFlags, createOptions } from "./create-flags.ts";
import { TspodError } from "../errors.ts";

export default class Run extends BaseCommand {
  static override description = "Run a command in a new container";
  static override aliases = ["container:run"];
  static override strict = false;
  /** flags end at the image name: what follows is the container's command */
  static stopAtPositional = true;
  static override examples = [
    "tspod run --rm busybox echo hi",
    "tspod run -it busybox sh",
    "tspod run -d --name web -v $PWD:/www:ro busybox httpd -f -h /www",
  ];
  static override args = { image: Args.string({ required: true, description: "image" }), command: Args.string({ required: false, description: "command and arguments" }) };
  static override flags = {
    ...createFlags,
    detach: Flags.boolean({ char: "d", description: "run in the background and print the container ID" }),
    "detach-keys": Flags.string({ description: "keys to detach (default ctrl-p,ctrl-q; empty to disable)" }),
    "sig-proxy": Flags.boolean({ description: "forward signals to the container (default true)", allowNo: true, default: true }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.setup(Run);
    const { trace } = await import("../context.ts");
    trace("run: parsed");
    const { createContainer } = await import("../container/create.ts");
    trace("run: create.ts loaded");
    const { Lifecycle } = await import("../container/lifecycle.ts");
    const { makeProgress } = await import("./progress.ts");
    const opts = createOptions(flags, argv as string[]);
    const progress = makeProgress(opts.quietPull);
    opts.onPullEvent = (e) => progress.event(e);
    trace("run: modules loaded");
    const { id } = await createContainer(this.context, opts);
    trace("run: created");
    progress.end();
    const lc = new Lifecycle(this.context);
    const c = lc.store.lookup(id);
    // A container this run created and could not start (a host port in use, a
    // network helper that failed) is not left behind.
    const startOrRemove = async (attach: boolean) => {
      try {
        return await lc.start(c, { attach, stdin: opts.interactive });
      } catch (e) {
        const cur = lc.store.find(id);
        if (cur && cur.state.status !== "running" && cur.state.status !== "paused") lc.destroy(cur);
        throw e;
      }
    };
    if (flags.detach) {
      await startOrRemove(false);
      return this.out(id);
    }
    const started = await startOrRemove(true);
    trace("run: monitor ready");
    const { attachSession } = await import("./attach-session.ts");
    const { parseDetachKeys } = await import("./detach-keys.ts");
    // Signals to this CLI go to the container (sig-proxy), as with Podman.
    const forward = (sig: NodeJS.Signals) => {
      try {
        process.kill(started.pid, sig);
      } catch {}
    };
    if (flags["sig-proxy"] && !opts.tty) for (const s of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const) process.on(s, forward);
    let end;
    try {
      end = await attachSession({
        sock: lc.store.sockPath(id),
        tty: opts.tty,
        stdin: opts.interactive,
        start: true,
        detachKeys: parseDetachKeys(flags["detach-keys"]),
      });
    } catch (e) {
      // The container may have failed during setup and its monitor already gone: say why.
      const exit = lc.store.exitRecord(id);
      if (opts.rm) {
        const cur = lc.store.find(id);
        if (cur) lc.destroy(cur);
      }
      if (exit?.startError) throw new TspodError(exit.startError, exit.exitCode >= 125 ? exit.exitCode : 125);
      if (exit) return exit.exitCode === 0 ? undefined : this.exit(exit.exitCode);
      throw new TspodError(`attaching to ${id.slice(0, 12)}: ${(e as Error).message}`);
    }
    trace("run: session ended");
    if (end.kind === "detached") return;
    if (end.kind === "error") {
      const code = end.errno === 2 ? 127 : [13, 8, 1].includes(end.errno) ? 126 : 125;
      if (opts.rm) await lc.wait(id, 5000).catch(() => {});
      throw new TspodError(end.message, code);
    }
    let code: number;
    if (end.kind === "exit") code = end.code;
    else code = await lc.wait(id);
    if (opts.rm) {
      // The process is gone and its exit recorded: remove it now rather than wait for
      // the monitor's cleanup (which then finds nothing to do).
      const cur = lc.store.find(id);
      if (cur) lc.discard(cur);
      trace("run: removed");
    }
    if (code !== 0) this.exit(code);
  }
}
