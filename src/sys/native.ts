// The native helpers embedded in the binary, materialised once per content
// hash under the runtime directory (0700, owned by the user). A container can
// never reach that directory, and the helper re-executes from a sealed memfd
// before it enters a container (native/sealed.h), so nothing in a container can
// write it.
import rtEmbedded from "../../native/out/tspod-rt" with { type: "file" };
import manifest from "../../native/out/manifest.json" with { type: "json" };
import { mkdirSync, writeFileSync, renameSync, chmodSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensureRunroot, ctx } from "../context.ts";
import { TspodError } from "../errors.ts";

const EMBEDDED: Record<string, string> = { "tspod-rt": rtEmbedded };

export type HelperName = keyof typeof manifest;

const cache = new Map<string, string>();

/** Path of a native helper, written out on first use: <runroot>/bin/<name>-<hash>. */
export function helperPath(name: HelperName = "tspod-rt"): string {
  const hit = cache.get(name);
  if (hit) return hit;
  const dir = join(ensureRunroot(ctx()), "bin");
  const path = join(dir, `${name}-${manifest[name]}`);
  let ok = false;
  try {
    const st = statSync(path);
    ok = st.isFile() && st.uid === ctx().uid && (st.mode & 0o777) === 0o500;
  } catch {}
  if (!ok) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const data = readEmbedded(name);
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, data, { mode: 0o700 });
    chmodSync(tmp, 0o500);
    renameSync(tmp, path);
  }
  cache.set(name, path);
  return path;
}

function readEmbedded(name: string): Uint8Array {
  const src = EMBEDDED[name];
  if (!src) throw new TspodError(`no embedded helper ${name}`);
  // In a compiled binary this is a /$bunfs path Bun serves from the executable.
  const fs = require("node:fs") as typeof import("node:fs");
  return fs.readFileSync(src);
}

