// The base every tspod command extends: global flags and error handling.
import { Command, Flags, Interfaces } from "@oclif/core";
import { makeContext, parseLogLevel, type Context } from "../context.ts";
import { commandTail, leadingGlobals } from "./argv.ts";

export const globalFlags = {
  root: Flags.string({ helpGroup: "GLOBAL", description: "storage root (default $XDG_DATA_HOME/tspod, /var/lib/tspod as root)" }),
  runroot: Flags.string({ helpGroup: "GLOBAL", description: "runtime state dir (default $XDG_RUNTIME_DIR/tspod, /run/tspod as root)" }),
  "log-level": Flags.string({ helpGroup: "GLOBAL", description: "debug, info, warn or error", options: ["debug", "info", "warn", "error"] }),
  "storage-driver": Flags.string({ helpGroup: "GLOBAL", description: "overlay, fuse-overlayfs or vfs (copy)", options: ["overlay", "fuse-overlayfs", "vfs"] }),
};


export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)["baseFlags"] & T["flags"]>;

export abstract class BaseCommand extends Command {
  static override baseFlags = globalFlags;
  protected context!: Context;

  /** Parse flags and set up the context; every command calls this first. */
  protected async setup<T extends typeof BaseCommand>(cls: T) {
    const parsed = await this.parse(cls as any);
    const f = parsed.flags as any;
    this.context = makeContext({
      root: f.root ?? leadingGlobals.root,
      runroot: f.runroot ?? leadingGlobals.runroot,
      logLevel: parseLogLevel(f["log-level"] ?? leadingGlobals["log-level"]),
      storageDriver: f["storage-driver"] ?? leadingGlobals["storage-driver"],
    });
    // run/create/exec: the container's command was kept away from oclif (see oclif.ts)
    const argv = (cls as any).stopAtPositional ? [...(parsed.argv as string[]), ...commandTail] : (parsed.argv as string[]);
    return { ...parsed, argv } as { flags: any; args: any; argv: string[] };
  }

  protected out(s: string): void {
    process.stdout.write(s.endsWith("\n") ? s : s + "\n");
  }

  protected override async catch(err: any): Promise<any> {
    throw err;
  }
}
