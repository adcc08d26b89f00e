// info: what tspod found on this host (lean path and oclif share this).
import type { Context } from "../../context.ts";
import type { CommandImpl } from "../spec.ts";
import { out } from "../spec.ts";

const impl: CommandImpl = {
  positionals: [0, 0],
  flags: {
    format: { type: "string", char: "f", description: "json or a Go template" },
  },
  async main(ctx: Context, flags) {
    const [{ gatherInfo, renderInfo }, { formatOutput }] = await Promise.all([import("../../engine/info.ts"), import("../format.ts")]);
    const info = gatherInfo(ctx);
    out(flags.format ? formatOutput(info, flags.format) : renderInfo(info));
  },
};
export default impl;
