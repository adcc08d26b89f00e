// An attached session: stdin/stdout/stderr of this terminal or pipes to the
// container's monitor; raw mode and window size for -t; detach keys ctrl-p
// ctrl-q; the terminal is restored on every way out.
import { AttachClient } from "../container/attach.ts";
import { writeErr, writeOut } from "../output.ts";
import { rawOutput } from "../sys/libc.ts";

export interface SessionOptions {
  sock: string;
  tty: boolean;
  stdin: boolean;
  /** send START once connected (run/start -a) */
  start: boolean;
  detachKeys?: number[];
  /** runs once the session has ended, before the socket closes (run --rm removes the container here) */
  beforeClose?: (end: SessionEnd) => void;
}

export type SessionEnd = { kind: "exit"; code: number } | { kind: "detached" } | { kind: "error"; errno: number; message: string; code?: number } | { kind: "lost" };

export async function attachSession(o: SessionOptions): Promise<SessionEnd> {
  // process.stdout costs ~4.5 ms to set up (see output.ts): only a terminal session needs it
  const out = o.tty ? process.stdout : undefined;
  let resolveEnd!: (e: SessionEnd) => void;
  const ended = new Promise<SessionEnd>((r) => (resolveEnd = r));
  let done = false;
  const finish = (e: SessionEnd) => {
    if (!done) {
      done = true;
      resolveEnd(e);
    }
  };
  const client = new AttachClient(o.sock, {
    stdout: (d) => (out ? out.write(d) : writeOut(d)),
    stderr: (d) => writeErr(d),
    exit: (code) => finish({ kind: "exit", code }),
    error: (errno, message, code) => finish({ kind: "error", errno, message, code }),
    // the exit frame may still be in flight when the socket closes: give it a moment,
    // without keeping the process alive once the session has ended
    closed: () => {
      if (!done) setTimeout(() => finish({ kind: "lost" }), 50).unref();
    },
  });
  await client.connect();
  // (process.stdin, like process.stdout, is only set up when it is used)
  const stdin = o.stdin || o.tty ? process.stdin : undefined;
  const raw = o.tty && !!stdin?.isTTY;
  // -t without -i: the input stays as it is (Ctrl-C still reaches tspod), but the
  // output is not processed a second time (\r\r\n), as Podman shows it
  const undoOutput = o.tty && !o.stdin && out?.isTTY ? rawOutput(1) : undefined;
  const restore = () => {
    undoOutput?.();
    if (raw) {
      try {
        stdin!.setRawMode(false);
      } catch {}
    }
  };
  process.on("exit", restore);
  const sendSize = () => {
    if (out?.isTTY) client.resize(out.rows ?? 24, out.columns ?? 80);
  };
  sendSize();
  if (out?.isTTY) out.on("resize", sendSize);
  const keys = o.detachKeys ?? [0x10, 0x11];
  let matched = 0;
  if (o.stdin && stdin) {
    if (raw) {
      stdin.setRawMode(true);
      rawOutput(0);
    }
    stdin.on("data", (chunk: Buffer) => {
      let data: Uint8Array = chunk;
      if (o.tty && keys.length) {
        for (let i = 0; i < chunk.length; i++) {
          if (chunk[i] === keys[matched]) {
            matched++;
            if (matched === keys.length) {
              client.detach();
              finish({ kind: "detached" });
              return;
            }
          } else matched = chunk[i] === keys[0] ? 1 : 0;
        }
      }
      client.stdin(data);
    });
    stdin.on("end", () => client.eof());
    stdin.resume();
  }
  if (o.start) client.start();
  const end = await ended;
  restore();
  if (o.stdin) stdin?.pause();
  stdin?.removeAllListeners("data");
  if (out?.isTTY) out.off("resize", sendSize);
  try {
    o.beforeClose?.(end);
  } finally {
    client.close();
  }
  return end;
}
