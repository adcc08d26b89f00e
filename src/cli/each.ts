// Acting on several containers: every failure is reported, the last one decides the exit.
import { TspodError, UsageError } from "../errors.ts";

/** Run fn for every named container; report each failure on stderr; exit 125 if any failed. */
export async function each(names: string[], fn: (name: string) => Promise<string | void>): Promise<void> {
  if (!names.length) throw new UsageError("at least one container name or ID is required");
  const errors: string[] = [];
  for (const n of names) {
    try {
      const out = await fn(n);
      if (out !== undefined) process.stdout.write(out + "\n");
    } catch (e: any) {
      errors.push(e.message);
    }
  }
  if (errors.length === 1) throw new TspodError(errors[0]);
  if (errors.length) {
    for (const e of errors.slice(0, -1)) process.stderr.write(`Error: ${e}\n`);
    throw new TspodError(errors[errors.length - 1]);
  }
}

