// Pull/push progress: bars per blob when stderr is a terminal, plain lines otherwise.
import { scaledSize } from "../units.ts";
import type { PullEvent } from "../image/pull.ts";
import { isTerminal, writeErr } from "../output.ts";

const short = (d: string) => d.slice(d.indexOf(":") + 1, d.indexOf(":") + 13);

const human = (n: number) => scaledSize(n, { fixed: 1, binary: true });

export interface ProgressSink {
  event(e: PullEvent): void;
  end(): void;
}

/** The lines both renderers print; blob lines are the plain renderer's own. */
function announcer(err: { write(s: string): unknown }) {
  let said = false;
  return {
    trying: (ref: string) => err.write(`Trying to pull ${ref}...\n`),
    /** Podman's "Getting image source signatures", once, before the first blob */
    signatures() {
      if (!said) err.write("Getting image source signatures\n");
      said = true;
    },
    config: (digest: string) => err.write(`Copying config ${short(digest)} done\n`),
    manifest: () => err.write("Writing manifest to image destination\n"),
  };
}

const blobState = (cached: boolean) => (cached ? "skipped: already exists" : "done");

export function makeProgress(quiet: boolean): ProgressSink {
  if (quiet) return { event() {}, end() {} };
  if (!isTerminal(2)) {
    // plain lines, without process.stderr (~4.5 ms to set up, see output.ts)
    const err = { write: writeErr };
    const say = announcer(err);
    return {
      event(e) {
        switch (e.type) {
          case "trying":
            say.trying(e.ref);
            break;
          case "blob-start":
            say.signatures();
            break;
          case "blob-done":
            say.signatures();
            err.write(`Copying blob ${short(e.digest)} ${blobState(e.cached)}\n`);
            break;
          case "config":
            say.config(e.digest);
            break;
          case "manifest":
            say.manifest();
            break;
        }
      },
      end() {},
    };
  }
  // Terminal: one line per blob, redrawn in place.
  const err = process.stderr;
  const say = announcer(err);
  const rows: { digest: string; done: number; size: number; state: string }[] = [];
  let drawn = 0;
  const width = () => Math.max(20, Math.min(40, (err.columns ?? 80) - 50));
  const draw = () => {
    if (drawn) err.write(`\x1b[${drawn}A`);
    for (const r of rows) {
      const frac = r.size ? Math.min(1, r.done / r.size) : 1;
      const w = width();
      const fill = Math.round(frac * w);
      const bar = `[${"=".repeat(Math.max(0, fill - 1))}${fill ? (frac < 1 ? ">" : "=") : ""}${" ".repeat(w - fill)}]`;
      err.write(`\x1b[2KCopying blob ${short(r.digest)} ${r.state === "run" ? `${bar} ${human(r.done)} / ${human(r.size)}` : r.state}\n`);
    }
    drawn = rows.length;
  };
  let timer: ReturnType<typeof setInterval> | undefined;
  return {
    event(e) {
      switch (e.type) {
        case "trying":
          say.trying(e.ref);
          break;
        case "blob-start":
          say.signatures();
          rows.push({ digest: e.digest, done: 0, size: e.size, state: "run" });
          timer ??= setInterval(draw, 100);
          draw();
          break;
        case "blob-progress": {
          const r = rows.find((x) => x.digest === e.digest);
          if (r) r.done = e.done;
          break;
        }
        case "blob-done": {
          say.signatures();
          let r = rows.find((x) => x.digest === e.digest);
          if (!r) rows.push((r = { digest: e.digest, done: e.size, size: e.size, state: "" }));
          r.done = e.size;
          r.state = blobState(e.cached);
          draw();
          break;
        }
        case "config":
          if (timer) clearInterval(timer);
          timer = undefined;
          draw();
          drawn = 0;
          say.config(e.digest);
          break;
        case "manifest":
          say.manifest();
          break;
      }
    },
    end() {
      if (timer) clearInterval(timer);
    },
  };
}
