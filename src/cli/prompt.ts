// Reading credentials: --creds USER[:PASSWORD] and a line from the terminal (no oclif import: the lean path uses it).
import { UsageError } from "../errors.ts";

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
