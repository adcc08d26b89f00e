// Build: compile native/ into small static programs, then bundle tspod into one file.
//   bun run build            -> dist/tspod
//   bun run build --native   -> only native/out
import { $ } from "bun";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync, renameSync, readdirSync } from "node:fs";
import { join } from "node:path";

const top = join(import.meta.dir, "..");
const nativeOnly = process.argv.includes("--native");

// Each native program: output name -> its C sources. Headers are shared.
const PROGRAMS: Record<string, string[]> = {
  "tspod-rt": readdirSync(join(top, "native")).filter((f) => f.endsWith(".c")).map((f) => `native/${f}`),
};

async function pickCC(): Promise<string> {
  for (const cc of ["musl-gcc", "gcc"]) {
    if (Bun.which(cc)) return cc;
  }
  throw new Error("no C compiler: install musl-tools (preferred) or gcc");
}

/**
 * zlib and zstd (layer decompression in `tspod-rt unpack`), linked statically
 * from Debian's zlib1g-dev and libzstd-dev. musl-gcc does not look in the
 * system's include and library directories (they are glibc's), so the three
 * headers are copied into native/out/include and the archives named by path;
 * both libraries need nothing from libc but memory and string functions.
 */
const LIBDIRS = ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"];
function staticLib(name: string, pkg: string): string {
  for (const d of LIBDIRS) if (existsSync(`${d}/lib${name}.a`)) return `${d}/lib${name}.a`;
  throw new Error(`lib${name}.a not found: install ${pkg}`);
}
function copyHeaders(dir: string, headers: Record<string, string>) {
  mkdirSync(dir, { recursive: true });
  for (const [h, pkg] of Object.entries(headers)) {
    if (!existsSync(`/usr/include/${h}`)) throw new Error(`/usr/include/${h} not found: install ${pkg}`);
    writeFileSync(join(dir, h), readFileSync(`/usr/include/${h}`));
  }
}

const cc = process.env.CC ?? (await pickCC());
mkdirSync(join(top, "native/out"), { recursive: true });
const incDir = join(top, "native/out/include");
copyHeaders(incDir, { "zlib.h": "zlib1g-dev", "zconf.h": "zlib1g-dev", "zstd.h": "libzstd-dev" });
const libs = [staticLib("z", "zlib1g-dev"), staticLib("zstd", "libzstd-dev")];
const hashes: Record<string, string> = {};
for (const [name, srcs] of Object.entries(PROGRAMS)) {
  const out = join(top, "native/out", name);
  await $`${cc} -static -Os -s -Wall -Wextra -Werror -I${incDir} -o ${out}.tmp ${srcs} ${libs}`.cwd(top);
  renameSync(`${out}.tmp`, out);
  hashes[name] = createHash("sha256").update(readFileSync(out)).digest("hex").slice(0, 16);
}
// Content names for the materialised copies (see src/sys/native.ts).
writeFileSync(join(top, "native/out/manifest.json"), JSON.stringify(hashes, null, 2) + "\n");
console.error(`native: ${Object.entries(hashes).map(([n, h]) => `${n}@${h}`).join(" ")} (${cc})`);

/** Profiles for the bytecode layout, most common start first (see scripts/record-bytecode-order.ts). */
const ORDER_DIR = join(top, "scripts/bytecode-order");
const ORDER_FILES = ["run.txt", "ps.txt", "images.txt", "pull.txt"].map((f) => join(ORDER_DIR, f)).filter((f) => existsSync(f));

if (!nativeOnly) {
  await $`bun run ${join(top, "scripts/gen-manifest.ts")}`.cwd(top);
  mkdirSync(join(top, "dist"), { recursive: true });
  const r = await Bun.build({
    entrypoints: [join(top, "src/main.ts")],
    // A compiled Bun program reads bunfig.toml and .env from the working directory
    // by default: any directory tspod ran in could preload code into it or change
    // its environment. tspod reads neither.
    //
    // Start-up, measured in the compiled binary: the bytecode laid out by the
    // profiles of scripts/bytecode-order/ (recorded by scripts/record-bytecode-order.ts)
    // saves ~1 ms of ~10; a JIT policy of 20 keeps run-once start-up code in the
    // interpreter (run --rm true: 33.6 -> 29.6 ms, 3 ms less CPU). Long-running
    // work calls Bun.unsafe.setJITPolicy(1) (see longRunning() in context.ts).
    compile: {
      outfile: join(top, "dist/tspod"),
      autoloadBunfig: false,
      autoloadDotenv: false,
      bytecodeOrder: ORDER_FILES.length ? ORDER_FILES : undefined,
      jitPolicy: 20,
    },
    minify: true,
    bytecode: true,
    format: "esm",
    splitting: true,
    target: "bun",
    sourcemap: "none",
    define: { "process.env.NODE_ENV": '"production"' },
  } as any);
  if (!r.success) {
    for (const l of r.logs) console.error(l);
    process.exit(1);
  }
  console.error("built dist/tspod");
}
