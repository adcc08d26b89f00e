// undici's HTTP parser, llhttp, is WebAssembly that undici compiles at its first
// connection, on the main thread, between the TCP connect and the request being
// written: ~2.5 ms of every pull's critical path here (measured with undici's
// own connect and write marks under TSPOD_TRACE). Compiled with
// WebAssembly.compile() instead, as the CLI starts, JSC does it on its compiler
// threads while the main thread loads modules and sends the first request.
//
// The compiled binary's build (scripts/build.ts) rewrites undici's
// `new WebAssembly.Module(require('../llhttp/llhttp_simd-wasm.js'))` to take
// precompiled() first; when it is not ready (or in `bun test`, which runs undici
// unchanged) undici compiles as it always does.
let compiled: WebAssembly.Module | undefined;
let started = false;

export function precompile(): void {
  if (started) return;
  started = true;
  if (process.env.UNDICI_NO_WASM_SIMD === "1") return; // undici then uses its non-SIMD build
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const bytes = require("undici/lib/llhttp/llhttp_simd-wasm.js") as Uint8Array;
    WebAssembly.compile(bytes).then(
      (m) => (compiled = m),
      () => {},
    );
  } catch {}
}

export function precompiled(): WebAssembly.Module | undefined {
  return compiled;
}
