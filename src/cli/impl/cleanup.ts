// container cleanup: run by a container's monitor after the process ended.
import type { Context } from "../../context.ts";
import { UsageError } from "../../errors.ts";
import type { CommandImpl } from "../spec.ts";

const impl: CommandImpl = {
  flags: {},
  async main(ctx: Context, _flags, argv) {
    if (argv.length !== 1) throw new UsageError("container cleanup takes one container ID");
    const { Lifecycle } = await import("../../container/lifecycle.ts");
    new Lifecycle(ctx).cleanup(argv[0]);
  },
};
export default impl;
