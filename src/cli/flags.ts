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
export const GO_STYLE_BOOLEANS = new Set(["tls-verify", "rm", "detach", "interactive", "tty", "init", "read-only", "privileged", "sig-proxy", "quiet", "all", "force"]);

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

/** USER[:PASSWORD]; a missing password is read from the terminal like Podman, or is an error without one. */
export async function parseCreds(s: string): Promise<{ username: string; password: string }> {
  const i = s.indexOf(":");
  if (i === 0) throw new UsageError("--creds: username is empty");
  if (i < 0) {
    if (!process.stdin.isTTY) throw new UsageError("--creds: no password given and stdin is not a terminal");
    process.stderr.write("Password: ");
    const pw = await readLine(true);
    return { username: s, password: pw };
  }
  return { username: s.slice(0, i), password: s.slice(i + 1) };
}

export async function readLine(secret = false): Promise<string> {
  const stdin = process.stdin;
  if (secret && stdin.isTTY) stdin.setRawMode(true);
  let buf = "";
  try {
    for await (const chunk of stdin) {
      const s = chunk.toString();
      for (const ch of s) {
        if (ch === "\r" || ch === "\n") return buf;
        if (ch === "\u0003") throw new UsageError("interrupted");
        if (ch === "\u007f") buf = buf.slice(0, -1);
        else buf += ch;
      }
    }
    return buf;
  } finally {
    if (secret && stdin.isTTY) {
      stdin.setRawMode(false);
      process.stderr.write("\n");
    }
    stdin.pause();
  }
}
