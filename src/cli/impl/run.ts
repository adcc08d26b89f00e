// run: create a container and start it, attached or detached (lean path and oclif share this).
import type { Context } from "../../context.ts";
import { startErrorCode, TspodError } from "../../errors.ts";
import { CREATE_FLAGS, createOptions } from "../create-opts.ts";
import { out, type CommandImpl } from "../spec.ts";

const impl: CommandImpl = {
  stopAtPositional: true,
  flags: {
    ...CREATE_FLAGS,
    detach: { type: "boolean", char: "d", description: "run in the background and print the container ID" },
    "detach-keys": { type: "string", description: "keys to detach (default ctrl-p,ctrl-q; empty to disable)" },
    "sig-proxy": { type: "boolean", allowNo: true, default: true, description: "forward signals to the container (default true)" },
  },
  async main(ctx: Context, flags, argv) {
    const { trace } = await import("../../context.ts");
    trace("run: parsed");
    const { createContainer } = await import("../../container/create.ts");
    trace("run: create.ts loaded");
    const { Lifecycle } = await import("../../container/lifecycle.ts");
    const { makeProgress } = await import("../progress.ts");
    const opts = createOptions(flags, argv);
    const progress = makeProgress(opts.quietPull);
    opts.onPullEvent = (e) => progress.event(e);
    trace("run: modules loaded");
    const { id } = await createContainer(ctx, opts);
    trace("run: created");
    progress.end();
    const lc = new Lifecycle(ctx);
    const c = lc.store.lookup(id);
    // A container this run created and could not start (a host port in use, a
    // network helper that failed) is not left behind. One whose command could not
    // be run (126, 127) stays, exited with that code, as in the foreground.
    const startOrRemove = async (attach: boolean) => {
      try {
        return await lc.start(c, { attach, stdin: opts.interactive }, true);
      } catch (e) {
        const code = e instanceof TspodError ? e.exitCode : 125;
        const cur = lc.store.find(id);
        if (cur && cur.state.status !== "running" && cur.state.status !== "paused" && (opts.rm || (code !== 126 && code !== 127))) lc.destroy(cur, opts.rm);
        throw e;
      }
    };
    if (flags.detach) {
      await startOrRemove(false);
      return out(id);
    }
    // loaded while the monitor sets the container up
    const sessionModules = Promise.all([import("../attach-session.ts"), import("../detach-keys.ts")]);
    const started = await startOrRemove(true);
    trace("run: monitor ready");
    const [{ attachSession }, { parseDetachKeys }] = await sessionModules;
    // Signals to this CLI go to the container (sig-proxy), as with Podman.
    const forward = (sig: NodeJS.Signals) => {
      try {
        process.kill(started.pid, sig);
      } catch {}
    };
    if (flags["sig-proxy"] && !opts.tty) for (const s of ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const) process.on(s, forward);
    let end;
    let removed = false;
    try {
      end = await attachSession({
        sock: lc.store.sockPath(id),
        tty: opts.tty,
        stdin: opts.interactive,
        start: true,
        detachKeys: parseDetachKeys(flags["detach-keys"]),
        // --rm: the process is gone and its exit recorded; the container goes out of
        // sight before the monitor sees us hang up, so the monitor deletes the files
        // itself instead of starting the exit command (a whole tspod process).
        beforeClose: (e) => {
          if (!opts.rm || e.kind !== "exit") return;
          const cur = lc.store.find(id);
          if (cur) lc.discard(cur);
          removed = true;
        },
      });
    } catch (e) {
      // The container may have failed during setup and its monitor already gone: say why.
      const exit = lc.store.exitRecord(id);
      if (opts.rm) {
        const cur = lc.store.find(id);
        if (cur) lc.destroy(cur, true);
      }
      if (exit?.startError) throw new TspodError(exit.startError, exit.exitCode >= 125 ? exit.exitCode : 125);
      if (exit) return exit.exitCode;
      throw new TspodError(`attaching to ${id.slice(0, 12)}: ${(e as Error).message}`);
    }
    trace("run: session ended");
    if (end.kind === "detached") return;
    if (end.kind === "error") {
      const code = end.code ?? startErrorCode("exec", end.errno);
      if (opts.rm) await lc.wait(id, 5000).catch(() => {});
      throw new TspodError(end.message, code);
    }
    let code: number;
    if (end.kind === "exit") code = end.code;
    else code = await lc.wait(id);
    if (opts.rm && !removed) {
      // The process is gone and its exit recorded: remove it now rather than wait for
      // the monitor's cleanup (which then finds nothing to do).
      const cur = lc.store.find(id);
      if (cur) lc.discard(cur);
    }
    trace("run: removed");
    return code;
  },
};
export default impl;
