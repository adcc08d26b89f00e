// Argument handling that must not load oclif (main.ts uses it for the fast path).

/** Global flags taking a value, accepted before the command name like Podman's. */
const GLOBALS_WITH_VALUE = new Set(["root", "runroot", "log-level", "storage-driver"]);

/** Global flags given before the command name (`tspod --root X ps`), taken out of argv. */
export const leadingGlobals: Record<string, string> = {};

export function takeLeadingGlobals(argv: string[]): string[] {
  let i = 0;
  while (i < argv.length && argv[i].startsWith("--") && argv[i] !== "--") {
    const eq = argv[i].indexOf("=");
    const name = argv[i].slice(2, eq < 0 ? undefined : eq);
    if (!GLOBALS_WITH_VALUE.has(name)) break;
    if (eq >= 0) {
      leadingGlobals[name] = argv[i].slice(eq + 1);
      i += 1;
    } else {
      if (i + 1 >= argv.length) break;
      leadingGlobals[name] = argv[i + 1];
      i += 2;
    }
  }
  return argv.slice(i);
}

/**
 * For run/create/exec: the container's command after the image/container
 * positional. It is kept out of oclif's parser entirely (oclif would read
 * `-u` in `run img id -u` as its own flag).
 */
export const commandTail: string[] = [];
