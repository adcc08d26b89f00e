// Acting on several containers: every failure is reported, the last one decides the exit.
import { TspodError, UsageError } from "../errors.ts";
import { writeOut, writeErr } from "../output.ts";

/**
 * Run fn for every named container; report each failure on stderr. The exit
 * code: 125 if any failure was an engine error, else the highest of the
 * failures' own codes (rm: 1 no such container, 2 running, as Podman).
 * parallel: all at once (stop: each may wait its timeout), the results then
 * printed in the order the names were given, as Podman prints them.
 */
export async function each(names: string[], fn: (name: string) => Promise<string | void>, opts: { parallel?: boolean } = {}): Promise<void> {
  if (!names.length) throw new UsageError("at least one container name or ID is required");
  const errors: { message: string; code: number }[] = [];
  const report = (r: PromiseSettledResult<string | void>) => {
    if (r.status === "fulfilled") {
      if (r.value !== undefined) writeOut(r.value + "\n");
    } else {
      const e: any = r.reason;
      errors.push({ message: e?.message ?? String(e), code: e instanceof TspodError ? e.exitCode : 125 });
    }
  };
  if (opts.parallel) for (const r of await Promise.allSettled(names.map((n) => fn(n)))) report(r);
  else for (const n of names) report(await Promise.allSettled([fn(n)]).then((r) => r[0]!));
  if (!errors.length) return;
  for (const e of errors.slice(0, -1)) writeErr(`Error: ${e.message}\n`);
  const codes = errors.map((e) => e.code);
  throw new TspodError(errors[errors.length - 1].message, codes.includes(125) ? 125 : Math.max(...codes));
}
