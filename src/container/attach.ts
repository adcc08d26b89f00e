// Talking to a container's monitor over its attach socket. Frames both ways:
// 1 byte type, 4 bytes big-endian length, payload.
//   client -> monitor: i stdin, e stdin EOF, r resize (rows u16, cols u16), s start, d detach,
//                      N network wanted
//   monitor -> client: o stdout, E stderr, x exit (i32 code), X error ("ERRNO:CODE:message", CODE the exit code recorded),
//                      N the network is up, W a warning for the user (printed as tspod's own)
import type { Socket } from "bun";
import { log, longRunning } from "../context.ts";

export interface AttachHandlers {
  stdout(data: Uint8Array): void;
  stderr(data: Uint8Array): void;
  exit(code: number): void;
  /** code: the exit code the monitor recorded (a monitor of an older tspod sends none) */
  error(errno: number, message: string, code?: number): void;
  closed(): void;
  /** the network is up (the answer to networkWanted) */
  network?(): void;
}

export function frame(type: string, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(5 + payload.length);
  out[0] = type.charCodeAt(0);
  new DataView(out.buffer).setUint32(1, payload.length);
  out.set(payload, 5);
  return out;
}

export class AttachClient {
  private sock?: Socket<undefined>;
  private buf = new Uint8Array(0);
  private pending: Uint8Array[] = [];

  constructor(private path: string, private h: AttachHandlers) {}

  async connect(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        this.sock = await Bun.connect({
          unix: this.path,
          socket: {
            data: (_s, d) => this.onData(d),
            close: () => this.h.closed(),
            error: () => this.h.closed(),
            drain: (s) => this.flush(s),
          },
        });
        return;
      } catch (e) {
        if (Date.now() > deadline) throw e;
        await Bun.sleep(10);
      }
    }
  }

  private flush(s: Socket<undefined>): void {
    while (this.pending.length) {
      const p = this.pending[0];
      const n = s.write(p);
      if (n < p.length) {
        this.pending[0] = p.subarray(n);
        return;
      }
      this.pending.shift();
    }
  }

  send(type: string, payload?: Uint8Array): void {
    const f = frame(type, payload);
    if (!this.sock) return;
    if (this.pending.length) {
      this.pending.push(f);
      return;
    }
    const n = this.sock.write(f);
    if (n < f.length) this.pending.push(f.subarray(n));
  }

  stdin(data: Uint8Array): void {
    this.send("i", data);
  }
  eof(): void {
    this.send("e");
  }
  start(): void {
    this.send("s");
  }
  resize(rows: number, cols: number): void {
    const p = new Uint8Array(4);
    const v = new DataView(p.buffer);
    v.setUint16(0, rows);
    v.setUint16(2, cols);
    this.send("r", p);
  }
  detach(): void {
    this.send("d");
  }
  /** a container started at its first socket: start its network now (answered with N, or X) */
  networkWanted(): void {
    this.send("N");
  }
  close(): void {
    this.sock?.end();
  }

  private chunks = 0;
  private onData(d: Uint8Array): void {
    if (++this.chunks === 64) longRunning();
    const merged = new Uint8Array(this.buf.length + d.length);
    merged.set(this.buf);
    merged.set(d, this.buf.length);
    let off = 0;
    while (merged.length - off >= 5) {
      const len = new DataView(merged.buffer, merged.byteOffset + off + 1, 4).getUint32(0);
      if (merged.length - off - 5 < len) break;
      const type = String.fromCharCode(merged[off]);
      const payload = merged.subarray(off + 5, off + 5 + len);
      off += 5 + len;
      switch (type) {
        case "o":
          this.h.stdout(payload);
          break;
        case "E":
          this.h.stderr(payload);
          break;
        case "x":
          this.h.exit(new DataView(payload.buffer, payload.byteOffset, 4).getInt32(0));
          break;
        case "N":
          this.h.network?.();
          break;
        case "W":
          // (a terminal may be in raw mode under -it: the line ends at column 0 either way)
          log("warn", new TextDecoder().decode(payload) + (process.stderr.isTTY ? "\r" : ""));
          break;
        case "X": {
          const t = new TextDecoder().decode(payload);
          const m = /^(-?\d+):(?:(12[5-7]):)?/.exec(t);
          this.h.error(Number(m?.[1]), t.slice(m?.[0].length ?? 0), m?.[2] ? Number(m[2]) : undefined);
          break;
        }
      }
    }
    this.buf = merged.slice(off);
  }
}
