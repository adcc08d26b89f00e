// Wires @oclif/core so it works inside a `bun build --compile` binary:
// package.json is imported as JSON, the root plugin is built by hand with the
// command map in place before load(), and Config gets that plugin.
import { Config, Plugin, run, flush, Errors } from "@oclif/core";
import pjson from "../../package.json" with { type: "json" };
import { COMMANDS } from "./commands.ts";
import manifest from "./manifest.gen.json" with { type: "json" };
import { exitWithError } from "./exit.ts";
import { trace } from "../context.ts";
import { flagSpellings, goStyleBooleans, takesNextWord } from "./flags.ts";
import { commandTail } from "./argv.ts";

/**
 * oclif fills a missing argument from stdin when stdin is not a terminal
 * (reading it for 10 ms): that would eat a container's input (`exec -i c cat`).
 * tspod never takes arguments from stdin.
 */
function ignoreStdinForArgs(): void {
  for (const cls of Object.values<any>(COMMANDS)) for (const a of Object.values<any>(cls.args ?? {})) a.ignoreStdin = true;
}

export async function runCli(argv: string[]): Promise<void> {
  ignoreStdinForArgs();
  argv = helpShortFlag(argv);
  const found = findCommand(argv);
  try {
    if (found) argv = goStyleBooleans(argv, found.words, { ...(found.cls.baseFlags ?? {}), ...(found.cls.flags ?? {}) }, !!found.cls.stopAtPositional);
  } catch (err) {
    handleError(err);
  }
  argv = endFlagsAtPositional(argv);
  const root = "/";
  const plugin = new Plugin({ root, pjson: pjson as any, isRoot: true, ignoreManifest: true });
  (plugin as any).commandCache = COMMANDS;
  // The manifest is computed at build time (scripts/gen-manifest.ts), not at every start.
  (plugin as any)._manifest = async () => manifest;
  await plugin.load();
  // run() loads the Config itself (given a loaded Config it would load it again:
  // measured, ~5 ms); the VERSION line of the help names Bun, not the Node
  // version Bun reports for compatibility.
  const load = Config.prototype.load;
  Config.prototype.load = async function (this: any, ...a: any[]) {
    await load.apply(this, a as any);
    this.userAgent = `tspod/${pjson.version} ${process.platform}-${process.arch} bun-${Bun.version}`;
  };
  trace("cli: loaded");
  try {
    await run(argv, { root, pjson: pjson as any, plugins: new Map([[pjson.name, plugin]]) } as any);
    await flush();
    trace("cli: done");
    if (process.env.TSPOD_TRACE) {
      process.on("beforeExit", () => trace("cli: beforeExit"));
      process.on("exit", () => trace("cli: exit"));
    }
  } catch (err) {
    handleError(err);
  }
}

/** `-h` is --help for commands that have no -h of their own (run's -h is --hostname, as Podman's). */
function helpShortFlag(argv: string[]): string[] {
  const i = argv.indexOf("-h");
  if (i < 0 || argv.indexOf("--") >= 0 && argv.indexOf("--") < i) return argv;
  const found = findCommand(argv);
  const flags = { ...(found?.cls?.baseFlags ?? {}), ...(found?.cls?.flags ?? {}) };
  if (Object.values<any>(flags).some((f) => f.char === "h")) return argv;
  if (found?.cls?.stopAtPositional && argv.slice(found.words, i).some((a) => !a.startsWith("-"))) return argv; // after the image: the container's
  return argv.map((a, j) => (j === i ? "--help" : a));
}

/** The command a token list names: the longest prefix that is a command id or alias ("container run" -> run). */
function findCommand(argv: string[]): { cls: any; words: number } | undefined {
  const byId = new Map<string, any>();
  for (const [id, cls] of Object.entries(COMMANDS)) {
    byId.set(id, cls);
    for (const a of (cls as any).aliases ?? []) byId.set(a, cls);
  }
  for (let n = Math.min(2, argv.length); n >= 1; n--) {
    const id = argv.slice(0, n).join(":");
    if (byId.has(id)) return { cls: byId.get(id), words: n };
  }
  return undefined;
}

/**
 * For run/create/exec flags end at the first positional (the image or
 * container); what follows belongs to the container's command, `-l` and all.
 * oclif parses flags anywhere, so that tail goes to commandTail instead.
 */
export function endFlagsAtPositional(argv: string[]): string[] {
  const found = findCommand(argv);
  if (!found?.cls?.stopAtPositional) return argv;
  const { takesValue } = flagSpellings({ ...(found.cls.baseFlags ?? {}), ...(found.cls.flags ?? {}) });
  for (let i = found.words; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      // `run -- IMAGE CMD...`: the same, with the separator dropped
      if (i + 1 < argv.length) commandTail.push(...argv.slice(i + 2));
      return [...argv.slice(0, i), ...argv.slice(i + 1, i + 2)];
    }
    if (a.startsWith("-") && a.length > 1) {
      if (takesNextWord(a, takesValue)) i++;
      continue;
    }
    commandTail.push(...argv.slice(i + 1));
    return argv.slice(0, i + 1);
  }
  return argv;
}

/** oclif's own exits pass through; everything else is one line and a Podman-style code. */
export function handleError(err: unknown): never {
  const e = err as any;
  if (e instanceof Errors.ExitError || (e?.oclif?.exit !== undefined && e?.code === "EEXIT")) process.exit(e.oclif.exit);
  exitWithError(err);
}
