// Flag definitions in a plain form, with no oclif import: the hot commands'
// implementations declare their flags here once; oclif gets them converted
// (oclif-flags.ts) and the lean path (fast.ts) parses them directly.
import { makeContext, parseLogLevel, type Context } from "../context.ts";
import { leadingGlobals } from "./argv.ts";
import { writeOut } from "../output.ts";

export interface FlagDef {
  type: "boolean" | "string" | "integer";
  description: string;
  char?: string;
  multiple?: boolean;
  allowNo?: boolean;
  options?: string[];
  default?: string | number | boolean;
  aliases?: string[];
  helpGroup?: string;
}

export type FlagDefs = Record<string, FlagDef>;

export const GLOBAL_FLAGS: FlagDefs = {
  root: { type: "string", helpGroup: "GLOBAL", description: "storage root (default $XDG_DATA_HOME/tspod, /var/lib/tspod as root)" },
  runroot: { type: "string", helpGroup: "GLOBAL", description: "runtime state dir (default $XDG_RUNTIME_DIR/tspod, /run/tspod as root)" },
  "log-level": { type: "string", helpGroup: "GLOBAL", description: "debug, info, warn or error", options: ["debug", "info", "warn", "error"] },
  "storage-driver": { type: "string", helpGroup: "GLOBAL", description: "overlay, fuse-overlayfs or vfs (copy)", options: ["overlay", "fuse-overlayfs", "vfs"] },
};

/** A command whose implementation both oclif and the lean path can run. */
export interface CommandImpl {
  flags: FlagDefs;
  /** flags end at the first positional (run/exec: the rest is the container's command) */
  stopAtPositional?: boolean;
  /** [min, max] positional arguments the lean path accepts; other counts go to oclif, which says what is wrong */
  positionals?: [number, number];
  /** returns the exit code (undefined = 0) */
  main(ctx: Context, flags: Record<string, any>, argv: string[]): Promise<number | void>;
}

/** One line to stdout (adds the newline). */
export function out(s: string): void {
  writeOut(s.endsWith("\n") ? s : s + "\n");
}

/** The context from parsed global flags, or those given before the command name. */
export function contextFromFlags(f: Record<string, any>): Context {
  return makeContext({
    root: f.root ?? leadingGlobals.root,
    runroot: f.runroot ?? leadingGlobals.runroot,
    logLevel: parseLogLevel(f["log-level"] ?? leadingGlobals["log-level"]),
    storageDriver: f["storage-driver"] ?? leadingGlobals["storage-driver"],
  });
}
