import { UsageError } from "../errors.ts";

/** "ctrl-p,ctrl-q" -> byte codes; "" disables detaching. */
export function parseDetachKeys(s: string | undefined): number[] {
  if (s === undefined) return [0x10, 0x11];
  if (s === "") return [];
  return s.split(",").map((k) => {
    const m = /^ctrl-([a-z@\[\\\]^_])$/.exec(k.trim());
    if (m) return m[1] === "@" ? 0 : m[1].charCodeAt(0) & 0x1f;
    if (k.length === 1) return k.charCodeAt(0);
    throw new UsageError(`invalid detach key "${k}": use ctrl-<letter> or a single character`);
  });
}
