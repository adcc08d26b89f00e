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

/** What was read past the last line (typed or pasted ahead), for the next readLine. */
let ahead = "";
let stdinEnded = false;

/**
 * One line from stdin (a terminal: echo off when secret). Several calls in a
 * row work (user name, then password): stdin is listened to, not iterated with
 * for-await, which destroys the stream when a loop is left early (the second
 * prompt then failed with "The operation was aborted").
 */
export async function readLine(secret = false): Promise<string> {
  const stdin = process.stdin;
  if (secret && stdin.isTTY) stdin.setRawMode(true);
  try {
    return await new Promise<string>((resolve, reject) => {
      let buf = "";
      const cleanup = () => {
        stdin.off("data", onData);
        stdin.off("end", onEnd);
        stdin.off("error", fail);
        stdin.pause();
      };
      const done = (line: string) => (cleanup(), resolve(line));
      const fail = (e: unknown) => (cleanup(), reject(e));
      // true when the line is complete (or input was interrupted)
      const take = (s: string): boolean => {
        for (let i = 0; i < s.length; i++) {
          const ch = s[i]!;
          if (ch === "\r" || ch === "\n") {
            ahead = s.slice(ch === "\r" && s[i + 1] === "\n" ? i + 2 : i + 1);
            done(buf);
            return true;
          }
          if (ch === "\u0003") {
            fail(new UsageError("interrupted"));
            return true;
          }
          if (ch === "\u007f") buf = buf.slice(0, -1);
          else buf += ch;
        }
        return false;
      };
      const onData = (chunk: Buffer | string) => void take(chunk.toString());
      const onEnd = () => {
        stdinEnded = true;
        done(buf);
      };
      const early = ahead;
      ahead = "";
      if (take(early)) return;
      if (stdinEnded) return done(buf);
      stdin.on("data", onData);
      stdin.once("end", onEnd);
      stdin.once("error", fail);
      stdin.resume();
    });
  } finally {
    if (secret && stdin.isTTY) {
      stdin.setRawMode(false);
      process.stderr.write("\n");
    }
  }
}
