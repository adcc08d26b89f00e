// Records the bytecode-order profiles the build lays the executable out by
// (scripts/build.ts): each file lists the functions one common command uses.
//   bun run scripts/record-bytecode-order.ts IMAGE   (as the user tspod is tuned for: rootless)
// IMAGE: a small image to pull and run (e.g. 127.0.0.1:5000/busybox:latest from
// the test environment; --tls-verify=false is passed). Uses dist/tspod and a
// throw-away store. Rebuild afterwards; profiles of an older build still apply.
import { mkdtempSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

const top = join(import.meta.dir, "..");
const image = process.argv[2];
if (!image) {
  console.error("usage: bun run scripts/record-bytecode-order.ts IMAGE");
  process.exit(2);
}
const bin = join(top, "dist/tspod");
const work = mkdtempSync("/tmp/tspod-order-");
const out = join(top, "scripts/bytecode-order");
mkdirSync(out, { recursive: true });
const store = ["--root", join(work, "root"), "--runroot", join(work, "run")];

function record(name: string | undefined, args: string[]): void {
  const env: Record<string, string> = { ...(process.env as Record<string, string>) };
  const tmp = join(work, `${name}.txt`);
  if (name) env.BUN_BYTECODE_ORDER_OUT = tmp;
  const r = Bun.spawnSync([bin, ...store, ...args], { env, stdout: "ignore", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`tspod ${args.join(" ")}: exit ${r.exitCode}: ${r.stderr.toString()}`);
  if (name) renameSync(tmp, join(out, `${name}.txt`));
}

try {
  record("pull", ["pull", "-q", "--tls-verify=false", image]);
  record("run", ["run", "--rm", "--network", "none", image, "true"]);
  record(undefined, ["run", "-d", "--network", "none", image, "sleep", "30"]);
  record("ps", ["ps", "-a"]);
  record("images", ["images"]);
  console.error(`wrote ${out}/{pull,run,ps,images}.txt`);
} finally {
  // files of subordinate ids (rootless) go through tspod itself
  Bun.spawnSync([bin, ...store, "rm", "-f", "-a"]);
  Bun.spawnSync([bin, ...store, "rmi", "-a", "-f"]);
  rmSync(work, { recursive: true, force: true });
}
