// One clear line on stderr and a Podman-style exit code; no oclif here (the lean path uses it).
import { TspodError } from "../errors.ts";

export function exitWithError(err: unknown): never {
  const e = err as any;
  if (err instanceof TspodError) {
    process.stderr.write(`Error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  // anything else (oclif parse errors: unknown flag, missing arg) is a usage error: 125 like Podman
  const msg = String(e?.message ?? err).split("\n")[0];
  if (process.env.TSPOD_DEBUG && e?.stack) process.stderr.write(e.stack + "\n");
  process.stderr.write(`Error: ${msg}\n`);
  process.exit(125);
}
