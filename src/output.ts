// Writing to stdout and stderr without process.stdout / process.stderr: in a
// compiled Bun binary the first use of either builds a Node stream, ~4.5 ms
// (measured: a program that prints one line, 11.2 ms with process.stdout.write,
// 6.5 ms with fs.writeSync). Writes are synchronous, whole, and in order; a
// reader that went away (`tspod ps | head -1`) ends the output quietly.
import { readlinkSync, writeSync } from "node:fs";

/** Clear a terminal's screen (not its scrollback) and go to the top: a table drawn again in place. */
export const CLEAR_SCREEN = "\x1b[2J\x1b[H";

/** fds whose reader went away (EPIPE): a command that streams stops then. */
const gone = new Set<number>();

/** The reader of stdout went away: nothing more is wanted (ps --watch | head -2). */
export function stdoutGone(): boolean {
  return gone.has(1);
}

function writeAll(fd: number, data: string | Uint8Array): void {
  let buf = typeof data === "string" ? Buffer.from(data) : data;
  while (buf.length) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (e: any) {
      if (e?.code === "EAGAIN") {
        Bun.sleepSync(1); // a non-blocking pipe that is full: wait for the reader
        continue;
      }
      if (e?.code === "EPIPE") return void gone.add(fd);
      throw e;
    }
  }
}

export function writeOut(data: string | Uint8Array): void {
  writeAll(1, data);
}

export function writeErr(data: string | Uint8Array): void {
  writeAll(2, data);
}

/**
 * Whether fd is a terminal, without node:tty (~2.6 ms to load) or
 * process.stderr.isTTY (~4.5 ms): what /proc/self/fd/N names.
 */
export function isTerminal(fd: number): boolean {
  try {
    return /^\/dev\/(pts\/\d+|tty\w*|console)$/.test(readlinkSync(`/proc/self/fd/${fd}`));
  } catch {
    return false;
  }
}
