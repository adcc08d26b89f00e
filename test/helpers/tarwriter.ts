// A raw tar writer for tests: builds ustar / pax / GNU headers byte by byte, so
// tests can make entries that real archivers refuse to write (`../` names,
// absolute paths, links out of the tree, bad checksums, truncated streams).

export type TarType = "0" | "\0" | "1" | "2" | "3" | "4" | "5" | "6" | "7" | "x" | "g" | "L" | "K" | string;

export interface TarEntry {
  name: string;
  /** typeflag; default "0" (or "5" when name ends with "/") */
  type?: TarType;
  mode?: number;
  uid?: number;
  gid?: number;
  /** seconds */
  mtime?: number;
  linkname?: string;
  data?: Uint8Array | string;
  /** header size field; defaults to data length (tests can lie) */
  size?: number;
  devmajor?: number;
  devminor?: number;
  uname?: string;
  gname?: string;
  /** POSIX ustar prefix field (names longer than 100 bytes) */
  prefix?: string;
  /** "ustar" (POSIX, default), "gnu" (magic "ustar  \0") or "v7" (no magic) */
  format?: "ustar" | "gnu" | "v7";
  /** write numeric fields in base-256 (GNU extension) */
  base256?: boolean;
  /** corrupt the checksum */
  badChecksum?: boolean;
}

const enc = new TextEncoder();
const bytes = (d: Uint8Array | string | undefined) => (d === undefined ? new Uint8Array(0) : typeof d === "string" ? enc.encode(d) : d);

function putStr(h: Uint8Array, off: number, len: number, s: string | Uint8Array) {
  const b = bytes(s);
  if (b.length > len) throw new Error(`tar field too long (${b.length} > ${len}): ${String(s).slice(0, 40)}`);
  h.set(b, off);
}

function putNum(h: Uint8Array, off: number, len: number, v: number, base256 = false) {
  const max = 8 ** (len - 1) - 1;
  if (!base256 && v >= 0 && v <= max) {
    putStr(h, off, len, v.toString(8).padStart(len - 1, "0") + "\0");
    return;
  }
  // base-256: first byte 0x80 (positive) or 0xff (negative), big-endian two's complement
  let x = BigInt(v);
  if (x < 0n) x = (1n << BigInt(8 * len)) + x;
  for (let i = len - 1; i >= 0; i--) {
    h[off + i] = Number(x & 0xffn);
    x >>= 8n;
  }
  h[off] = v < 0 ? 0xff : 0x80 | (h[off] & 0x7f);
}

function pad(n: number) {
  return (512 - (n % 512)) % 512;
}

export function header(e: TarEntry): Uint8Array {
  const h = new Uint8Array(512);
  const data = bytes(e.data);
  const type = e.type ?? (e.name.endsWith("/") ? "5" : "0");
  putStr(h, 0, 100, e.name);
  putNum(h, 100, 8, e.mode ?? (type === "5" ? 0o755 : 0o644), e.base256);
  putNum(h, 108, 8, e.uid ?? 0, e.base256);
  putNum(h, 116, 8, e.gid ?? 0, e.base256);
  putNum(h, 124, 12, e.size ?? data.length, e.base256);
  putNum(h, 136, 12, e.mtime ?? 1700000000, e.base256);
  h[156] = type.charCodeAt(0) || 0;
  if (e.linkname) putStr(h, 157, 100, e.linkname);
  const format = e.format ?? "ustar";
  if (format === "ustar") putStr(h, 257, 8, "ustar\x0000");
  else if (format === "gnu") putStr(h, 257, 8, "ustar  \0");
  if (format !== "v7") {
    putStr(h, 265, 32, e.uname ?? "");
    putStr(h, 297, 32, e.gname ?? "");
    putNum(h, 329, 8, e.devmajor ?? 0);
    putNum(h, 337, 8, e.devminor ?? 0);
  }
  if (e.prefix) putStr(h, 345, 155, e.prefix);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  if (e.badChecksum) sum += 1;
  putStr(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/** One pax record: "LEN key=value\n", LEN counting itself. */
export function paxRecord(key: string, value: string | Uint8Array): Uint8Array {
  const v = bytes(value);
  const body = enc.encode(` ${key}=`).length + v.length + 1;
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  const out = new Uint8Array(len);
  const pre = enc.encode(`${len} ${key}=`);
  out.set(pre, 0);
  out.set(v, pre.length);
  out[len - 1] = 0x0a;
  return out;
}

export class TarWriter {
  private parts: Uint8Array[] = [];

  /** Append raw bytes (for malformed streams). */
  raw(b: Uint8Array | string): this {
    this.parts.push(bytes(b));
    return this;
  }

  entry(e: TarEntry): this {
    const data = bytes(e.data);
    this.parts.push(header(e), data, new Uint8Array(pad(data.length)));
    return this;
  }

  file(name: string, data: string | Uint8Array = "", o: Partial<TarEntry> = {}): this {
    return this.entry({ name, data, type: "0", ...o });
  }
  dir(name: string, o: Partial<TarEntry> = {}): this {
    return this.entry({ name, type: "5", ...o });
  }
  symlink(name: string, target: string, o: Partial<TarEntry> = {}): this {
    return this.entry({ name, type: "2", linkname: target, mode: 0o777, ...o });
  }
  hardlink(name: string, target: string, o: Partial<TarEntry> = {}): this {
    return this.entry({ name, type: "1", linkname: target, ...o });
  }

  /** A pax extended header ('x', or 'g' when global) for the next entry. */
  pax(records: Record<string, string | Uint8Array>, global = false): this {
    const recs = Object.entries(records).map(([k, v]) => paxRecord(k, v));
    const data = concat(recs);
    return this.entry({ name: global ? "pax_global_header" : "PaxHeaders/x", type: global ? "g" : "x", data });
  }

  /** GNU long name ('L') or long link ('K') for the next entry. */
  gnuLong(kind: "L" | "K", value: string): this {
    return this.entry({ name: "././@LongLink", type: kind, data: value + "\0", format: "gnu" });
  }

  /** Archive bytes, with the two end-of-archive blocks unless `noEnd`. */
  end(noEnd = false): Uint8Array {
    if (!noEnd) this.parts.push(new Uint8Array(1024));
    return concat(this.parts);
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
