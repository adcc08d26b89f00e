// Flags shared by several commands.
import { Flags } from "@oclif/core";
import { UsageError } from "../errors.ts";

/** --tls-verify / --tls-verify=false; undefined means "as registries.conf says". */
export const tlsVerifyFlag = Flags.boolean({
  description: "require HTTPS and verify certificates (--tls-verify=false allows plain HTTP)",
  allowNo: true,
});

/**
 * Boolean flags users write Go-style (`--tls-verify=false`, `--rm=true`): run.ts
 * rewrites those spellings to oclif's `--no-x` / `--x` before parsing.
 */
export const GO_STYLE_BOOLEANS = new Set(["tls-verify", "rm", "detach", "interactive", "tty", "init", "read-only", "read-only-tmpfs", "privileged", "sig-proxy", "quiet", "all", "force"]);

export function goStyleBooleans(argv: string[]): string[] {
  const out: string[] = [];
  for (const a of argv) {
    if (a === "--") {
      out.push(...argv.slice(out.length));
      break;
    }
    const m = /^--([a-z-]+)=(true|false)$/i.exec(a);
    if (m && GO_STYLE_BOOLEANS.has(m[1])) out.push(m[2].toLowerCase() === "true" ? `--${m[1]}` : `--no-${m[1]}`);
    else out.push(a);
  }
  return out;
}

