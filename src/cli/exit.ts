// One clear line on stderr and a Podman-style exit code; no oclif here (the lean path uses it).
import { TspodError } from "../errors.ts";
import { writeErr } from "../output.ts";

export function exitWithError(err: unknown): never {
  const e = err as any;
  if (err instanceof TspodError) {
    writeErr(`Error: ${err.message}\n`);
    process.exit(err.exitCode);
  }
  // anything else (oclif parse errors: unknown flag, missing arg) is a usage error: 125 like Podman
  const msg = oneLine(String(e?.message ?? err));
  if (process.env.TSPOD_DEBUG && e?.stack) writeErr(e.stack + "\n");
  writeErr(`Error: ${msg}\n`);
  process.exit(125);
}

/**
 * oclif's parse errors span lines ("Missing 1 required arg:" / "container" /
 * "See more help with --help"): one line that still says what is wrong.
 */
export function oneLine(message: string): string {
  const lines = message
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !/^See more help with/.test(l));
  let msg = lines[0] ?? "";
  // "image  image name or ID" (oclif's name and description columns): "image (image name or ID)"
  if (lines.length > 1 && (/:$/.test(msg) || /^Parsing --\S+$/.test(msg))) msg = `${msg.replace(/:$/, "")}: ${lines[1]!.replace(/^(\S+)\s{2,}(.+)$/, "$1 ($2)")}`;
  return msg.replace(/^command (\S+) not found/, (_m, id: string) => `command ${id.replace(/:/g, " ")} not found`);
}
