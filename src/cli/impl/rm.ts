// rm: remove containers (lean path and oclif share this).
import type { Context } from "../../context.ts";
import { each } from "../each.ts";
import { TspodError, UsageError } from "../../errors.ts";
import type { CommandImpl } from "../spec.ts";
import type { Container } from "../../container/record.ts";

const impl: CommandImpl = {
  flags: {
    force: { type: "boolean", char: "f", description: "kill running containers first" },
    all: { type: "boolean", char: "a", description: "remove all containers" },
    volumes: { type: "boolean", char: "v", description: "also the container's anonymous volumes (-v /path, the image's VOLUME; named ones stay)" },
    depend: { type: "boolean", description: "first remove every container that depends on these (shares its network), and those that depend on them" },
    time: { type: "integer", char: "t", description: "with -f: seconds to wait for a running container to stop before it is killed (default: killed at once)" },
  },
  async main(ctx: Context, flags, argv) {
    if (flags.time !== undefined) {
      if (!flags.force) throw new UsageError("--force option must be specified to use the --time option");
      if (flags.time < 0 || flags.time > 2147483647) throw new UsageError(`--time ${flags.time}: seconds from 0 to 2147483647`);
    }
    const { Lifecycle } = await import("../../container/lifecycle.ts");
    const lc = new Lifecycle(ctx);
    // --all: pods' infra containers go with their pods (pod rm), not here
    let names: string[] = flags.all ? lc.store.list().filter((c) => !c.config.infra).map((c) => c.config.id) : argv;
    if (flags.all && !names.length) return;
    // A --rm container killed here removes itself meanwhile: that is a removal, not an error.
    const existed = new Set(names.filter((n) => lc.store.find(n)));
    // Like Podman: a name that is not there (without -f) is an error before anything is removed (exit 1)
    const missing = flags.force ? undefined : names.find((n) => !existed.has(n));
    if (missing !== undefined) {
      try {
        lc.store.lookup(missing); // throws the usual "no such container"
      } catch (e) {
        throw new TspodError((e as Error).message, 1);
      }
    }
    // --depend: the dependents of each (and theirs), deepest first, then it (by ID, as Podman prints them)
    if (flags.depend) {
      const order: string[] = [];
      const visit = (c: Container) => {
        if (order.includes(c.config.id)) return;
        for (const d of lc.dependents(c)) visit(d);
        order.push(c.config.id);
      };
      for (const n of names) {
        const c = lc.store.find(n);
        if (c) visit(c);
      }
      names = order;
    }
    // what rm will refuse (an infra container, one others depend on) is not stopped or killed first
    const stoppable = (c: Container | undefined): c is Container => !!c && (c.state.status === "running" || c.state.status === "paused") && !lc.unremovable(c);
    if (flags.force && flags.time !== undefined && flags.time > 0) {
      // -t N: stopped as `stop -t N` does (signal, then SIGKILL after N seconds), all at once
      await Promise.all(
        names.map(async (n) => {
          const c = lc.store.find(n);
          if (stoppable(c)) await lc.stop(c, flags.time).catch(() => {});
        }),
      );
    }
    if (flags.force) {
      // kill everything first so the waits overlap
      for (const n of names) {
        const c = lc.store.find(n);
        if (stoppable(c)) {
          try {
            process.kill(c.state.pid, "SIGKILL");
          } catch {}
        }
      }
    }
    // Exit codes as Podman's: 1 no such container (-f: not an error), 2 running, else 125.
    await each(names, async (n) => {
      const c = lc.store.find(n);
      if (!c) return existed.has(n) ? n : undefined; // gone meanwhile (--rm), or not there with -f
      try {
        await lc.remove(c, flags.force, { volumes: flags.volumes });
      } catch (e) {
        if (e instanceof TspodError && /container state improper/.test(e.message)) throw new TspodError(e.message, 2);
        throw e;
      }
      return flags.all || flags.depend ? c.config.id : n;
    });
  },
};
export default impl;
