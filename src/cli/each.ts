// Acting on several containers: every failure is reported, the last one decides the exit.
import { TspodError, UsageError } from "../errors.ts";
import { writeOut, writeErr } from "../output.ts";

/**
 * Run fn for every named container; report each failure on stderr. The exit
 * code: 125 if any failure was an engine error, else the highest of the
 * failures' own codes (rm: 1 no such container, 2 running, as Podman).
 */
export async function each(names: string[], fn: (name: string) => Promise<string | void>): Promise<void> {
  if (!names.length) throw new UsageError("at least one container name or ID is required");
  const errors: { message: string; code: number }[] = [];
  for (const n of names) {
    try {
      const out = await fn(n);
      if (out !== undefined) writeOut(out + "\n");
    } catch (e: any) {
      errors.push({ message: e.message, code: e instanceof TspodError ? e.exitCode : 125 });
    }
  }
  if (!errors.length) return;
  for (const e of errors.slice(0, -1)) writeErr(`Error: ${e.message}\n`);
  const codes = errors.map((e) => e.code);
  throw new TspodError(errors[errors.length - 1].message, codes.includes(125) ? 125 : Math.max(...codes));
}
