// The base every tspod command extends: global flags and error handling.
import { Command, Flags, Interfaces } from "@oclif/core";
import type { Context } from "../context.ts";
import { commandTail } from "./argv.ts";
import { contextFromFlags, GLOBAL_FLAGS, type FlagDefs } from "./spec.ts";
import { writeOut } from "../output.ts";

/** Plain flag definitions (spec.ts) as oclif flags. */
export function toOclif(defs: FlagDefs): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [name, d] of Object.entries(defs)) {
    const common: any = { description: d.description, helpGroup: d.helpGroup };
    if (d.char) common.char = d.char;
    if (d.aliases) common.aliases = d.aliases;
    if (d.type === "boolean") out[name] = Flags.boolean({ ...common, allowNo: !!d.allowNo, ...(d.default !== undefined ? { default: d.default as boolean } : {}) });
    else if (d.type === "integer") out[name] = Flags.integer({ ...common, ...(d.multiple ? { multiple: true, multipleNonGreedy: true } : {}), ...(d.default !== undefined ? { default: d.default as number } : {}) });
    else out[name] = Flags.string({ ...common, ...(d.options ? { options: d.options } : {}), ...(d.multiple ? { multiple: true, multipleNonGreedy: true } : {}), ...(d.default !== undefined ? { default: d.default as string } : {}) });
  }
  return out;
}

/** The global flags, from the same definitions the lean path parses. */
export const globalFlags = toOclif(GLOBAL_FLAGS);


export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)["baseFlags"] & T["flags"]>;

export abstract class BaseCommand extends Command {
  static override baseFlags = globalFlags;
  protected context!: Context;

  /** Parse flags and set up the context; every command calls this first. */
  protected async setup<T extends typeof BaseCommand>(cls: T) {
    const parsed = await this.parse(cls as any);
    const f = parsed.flags as any;
    this.context = contextFromFlags(f);
    // run/create/exec: the container's command was kept away from oclif (see oclif.ts)
    const argv = (cls as any).stopAtPositional ? [...(parsed.argv as string[]), ...commandTail] : (parsed.argv as string[]);
    return { ...parsed, argv } as { flags: any; args: any; argv: string[] };
  }

  protected out(s: string): void {
    writeOut(s.endsWith("\n") ? s : s + "\n");
  }

  protected override async catch(err: any): Promise<any> {
    throw err;
  }
}
