// Plain flag definitions (spec.ts) as oclif flags, and oclif commands around a CommandImpl.
import { Args } from "@oclif/core";
import { BaseCommand, toOclif } from "./base.ts";

export { toOclif };
import type { CommandImpl } from "./spec.ts";


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
