// Plain flag definitions (spec.ts) as oclif flags, and oclif commands around a CommandImpl.
import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import type { CommandImpl, FlagDefs } from "./spec.ts";

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

export interface CommandMeta {
  description: string;
  aliases?: string[];
  examples?: string[];
  /** positional argument names: the first is required unless optional is set */
  args?: { name: string; description?: string; required?: boolean }[];
  strict?: boolean;
  hidden?: boolean;
}

/** An oclif command that runs impl.main with the parsed flags and arguments. */
export function oclifCommand(impl: CommandImpl, meta: CommandMeta): any {
  const args: Record<string, any> = {};
  for (const a of meta.args ?? []) args[a.name] = Args.string({ required: !!a.required, description: a.description });
  class Cmd extends BaseCommand {
    static override description = meta.description;
    static override aliases = meta.aliases ?? [];
    static override examples = meta.examples ?? [];
    static override hidden = !!meta.hidden;
    static override strict = meta.strict ?? true;
    static override args = args;
    static override flags = toOclif(impl.flags);
    static stopAtPositional = !!impl.stopAtPositional;
    async run(): Promise<void> {
      const { flags, argv } = await this.setup(Cmd);
      const code = await impl.main(this.context, flags, argv);
      if (code) this.exit(code);
    }
  }
  return Cmd;
}
