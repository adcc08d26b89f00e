// Wires @oclif/core so it works inside a `bun build --compile` binary:
// package.json is imported as JSON, the root plugin is built by hand with the
// command map in place before load(), and Config gets that plugin.
import { Config, Plugin, run, flush, Errors } from "@oclif/core";
import pjson from "../../package.json" with { type: "json" };
import { COMMANDS } from "./commands.ts";
import { TspodError } from "../errors.ts";
import { trace } from "../context.ts";
import { goStyleBooleans } from "./flags.ts";

export async function runCli(argv: string[]): Promise<void> {
  argv = goStyleBooleans(argv);
  const root = "/";
  const plugin = new Plugin({ root, pjson: pjson as any, isRoot: true, ignoreManifest: true });
  (plugin as any).commandCache = COMMANDS;
  await plugin.load();
  const config = await Config.load({ root, pjson: pjson as any, plugins: new Map([[pjson.name, plugin]]) } as any);
  (config as any).userAgent = `tspod version ${pjson.version}`;
  trace("cli: loaded");
  try {
    await run(argv, config);
    await flush();
  } catch (err) {
    handleError(err);
  }
}

/** One clear line on stderr and a Podman-style exit code. */
export function handleError(err: unknown): never {
  const e = err as any;
  if (e instanceof Errors.ExitError || e?.oclif?.exit !== undefined && e?.code === "EEXIT") {
    process.exit(e.oclif.exit);
  }
  if (err instanceof TspodError) {
    process.stderr.write(`Error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  // oclif parse errors (unknown flag, missing arg, ...) are usage errors: 125 like Podman.
  const msg = String(e?.message ?? err).split("\n")[0];
  if (process.env.TSPOD_DEBUG && e?.stack) process.stderr.write(e.stack + "\n");
  process.stderr.write(`Error: ${msg}\n`);
  process.exit(125);
}
