// A live table for the terminal (ink): rows reloaded every few seconds, one
// selected (arrows, j/k, PgUp/PgDn, g/G), sorted by a column (←/→ picks it, o
// reverses), q or Esc to quit. stats and ps --watch are made of it; commands
// they offer on the selected row (stop, logs...) come in as extra keys.
//
// Keys are handled against the table as it is at that moment, not as it was
// last drawn: several keys that arrive in one read (fast typing, a slow link)
// each see what the one before did. The frame never fills the terminal (ink
// then clears the screen and the scrollback on every draw), and columns are
// narrowed to fit its width, the ones marked to give way first.
import React, { useEffect, useReducer, useRef, useState } from "react";
import { Box, Text, useApp, useInput, useStdin, useStdout, type Key } from "ink";
import { CLEAR_SCREEN } from "../output.ts";

export interface Column<R> {
  title: string;
  text: (r: R) => string;
  /** what the column sorts by; without it, its text */
  sort?: (r: R) => number | string;
  /** numbers: right-aligned */
  right?: boolean;
  /** sorted largest (or newest) first when picked */
  descFirst?: boolean;
  /** may be narrowed (its texts cut with …) to fit the terminal; down to this width */
  shrink?: number;
  /** which narrows first: the lowest (default 0); among equals, the widest */
  shrinkOrder?: number;
  color?: (r: R) => string | undefined;
}

/** What a key handler may do. */
export interface TableApi {
  /** a line under the table (what an action did) */
  say(msg: string): void;
  /** ask; yes runs only on a "y" (any other key says no) */
  ask(question: string, yes: () => void): void;
  /** load the rows again now */
  reload(): void;
  /** show something else in the table's place until it is given undefined */
  replace(node: React.ReactNode | undefined): void;
  /** end the view: 0, or 130 for an interrupt (Ctrl-C) */
  quit(code?: number): void;
}

export interface ExtraKey<R> {
  keys: string;
  help: string;
  /** true when the key was this one's (plain keys only: a Ctrl or Meta key never comes here) */
  on(input: string, key: Key, row: R | undefined, api: TableApi): boolean;
}

export interface LiveTableProps<R> {
  title: string;
  /** the noun for the count in the title: one and several */
  noun: [string, string];
  columns: Column<R>[];
  rowKey: (r: R) => string;
  load: () => R[] | Promise<R[]>;
  /** rows to show at once (the first load then comes after every ms) */
  initial?: R[];
  /** ms between loads */
  every: number;
  /** the column sorted by at the start, and whether descending */
  sortBy?: number;
  descending?: boolean;
  extra?: ExtraKey<R>[];
  /** after a load: a reason to end the view (what it watched is gone), shown under its last frame */
  finished?: (rows: R[]) => string | undefined;
  /** a line above the table (what the title leaves out: a mode, a filter) */
  status?: () => string;
  /** the exit code the view ends with (130 for Ctrl-C) */
  onExit?: (code: number) => void;
}

/** Printable text: tabs as spaces, escape sequences and other control characters dropped, a \r as a terminal shows it. */
export function printable(s: string): string {
  s = s.replace(/\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[P^_X][^\x1b]*(?:\x1b\\)?|\x1b\[[0-9;?<>=!]*[ -/]*[@-~]|\x1b[()*+][0-9A-Za-z]|\x1b[@-_]/g, "");
  if (s.includes("\r")) {
    // what a terminal ends up showing: each \r goes back to the start and writes over
    let line = "";
    for (const part of s.split("\r")) line = part + line.slice(part.length);
    s = line;
  }
  return s.replace(/\t/g, "    ").replace(/[\x00-\x1f\x7f]/g, "");
}

/** Cut to n columns with … (by code points: close enough for names, images and commands). */
function fit(s: string, n: number): string {
  const cps = [...s];
  return cps.length <= n ? s : n <= 1 ? "…".slice(0, n) : cps.slice(0, n - 1).join("") + "…";
}

const pad = (s: string, n: number, right?: boolean) => {
  const len = [...s].length;
  return len >= n ? s : right ? " ".repeat(n - len) + s : s + " ".repeat(n - len);
};

function compare(a: number | string, b: number | string): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

const GAP = 3;

/**
 * Column widths for the texts, narrowed to fit width: the shrinkable columns
 * in their order (the widest first among equals), each down to its least.
 */
export function columnWidths(natural: number[], shrink: (number | undefined)[], width: number, order: number[] = []): number[] {
  const w = [...natural];
  const over = () => w.reduce((a, b) => a + b, 0) + GAP * (w.length - 1) + 2 - width;
  for (;;) {
    let best = -1;
    for (let i = 0; i < w.length; i++) {
      if (shrink[i] === undefined || w[i]! <= shrink[i]!) continue;
      const o = order[i] ?? 0, bo = order[best] ?? 0;
      if (best < 0 || o < bo || (o === bo && w[i]! > w[best]!)) best = i;
    }
    if (over() <= 0 || best < 0) return w; // fits, or what is left is cut at the edge
    w[best] = Math.max(shrink[best]!, w[best]! - over());
  }
}

export function LiveTable<R>(p: LiveTableProps<R>): React.ReactElement {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const { setRawMode, isRawModeSupported } = useStdin();
  const [, redraw] = useReducer((n: number) => n + 1, 0);
  // the table's state lives in refs, read and written by each key as it comes; redraw() shows it
  const st = useRef({
    rows: p.initial as R[] | undefined,
    sortBy: p.sortBy ?? 0,
    desc: p.descending ?? false,
    selected: undefined as string | undefined,
    /** where the selection was: a row that goes is followed by the one now in its place */
    lastIndex: 0,
    error: undefined as string | undefined,
    message: undefined as string | undefined,
    asking: undefined as undefined | (() => void),
    other: undefined as React.ReactNode,
    loadedAt: new Date(),
    ended: undefined as string | undefined,
  }).current;
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const alive = useRef(true);

  const sorted = (): R[] => {
    const col = p.columns[st.sortBy]!;
    const key = col.sort ?? col.text;
    return [...(st.rows ?? [])].sort((a, b) => (st.desc ? -1 : 1) * compare(key(a), key(b)));
  };
  /** the selected row's index in rows, the selection kept on a row that still is there */
  const selectedIndex = (rows: R[]): number => {
    let i = st.selected === undefined ? -1 : rows.findIndex((r) => p.rowKey(r) === st.selected);
    if (i < 0) i = Math.min(st.lastIndex, rows.length - 1);
    i = Math.max(0, i);
    st.lastIndex = i;
    st.selected = rows[i] ? p.rowKey(rows[i]!) : undefined;
    return i;
  };

  const end = (why?: string, code = 0) => {
    alive.current = false;
    clearTimeout(timer.current);
    st.ended = why;
    p.onExit?.(code);
    redraw();
    // the last frame (with why) is drawn before ink lets go of the terminal
    setTimeout(() => exit(), why ? 50 : 0);
  };

  const load = async () => {
    clearTimeout(timer.current);
    try {
      const got = await p.load();
      if (!alive.current) return;
      st.rows = got;
      st.error = undefined;
      const why = p.finished?.(got);
      if (why) return end(why);
    } catch (e) {
      if (!alive.current) return;
      st.error = (e as Error).message;
    }
    st.loadedAt = new Date();
    redraw();
    if (alive.current) timer.current = setTimeout(load, p.every);
  };

  useEffect(() => {
    if (p.initial) timer.current = setTimeout(load, p.every);
    else void load();
    // narrower: the old frame's lines wrap into more than ink knows of; clear the screen, not the scrollback
    let cols = stdout.columns;
    const onResize = () => {
      if ((stdout.columns ?? 80) < (cols ?? 80)) stdout.write(CLEAR_SCREEN);
      cols = stdout.columns;
      redraw();
    };
    stdout.on("resize", onResize);
    // Ctrl-Z (the terminal sends no signal in raw mode) and kill -TSTP: the terminal as
    // it was, then stopped; fg: raw mode again and a fresh frame
    const onCont = () => {
      if (isRawModeSupported) setRawMode(true);
      stdout.write(CLEAR_SCREEN);
      redraw();
    };
    const onTstp = () => suspend();
    process.on("SIGCONT", onCont);
    process.on("SIGTSTP", onTstp);
    return () => {
      alive.current = false;
      clearTimeout(timer.current);
      stdout.off("resize", onResize);
      process.off("SIGCONT", onCont);
      process.off("SIGTSTP", onTstp);
    };
  }, []);

  const suspend = () => {
    if (isRawModeSupported) setRawMode(false);
    stdout.write("\x1b[?25h\n");
    process.kill(process.pid, "SIGSTOP");
  };

  const api: TableApi = {
    say: (m) => {
      st.message = m;
      redraw();
    },
    ask: (question, yes) => {
      st.message = `${question} y/n`;
      st.asking = yes;
      redraw();
    },
    reload: () => void load(),
    replace: (node) => {
      st.other = node;
      if (node === undefined) stdout.write(CLEAR_SCREEN);
      redraw();
    },
    quit: (code = 0) => end(undefined, code),
  };

  const onKey = (input: string, key: Key) => {
    // Esc comes as a Meta key too: it quits before chords are passed over
    if (key.escape && !st.asking) return api.quit();
    if (key.ctrl && input === "c") return end(undefined, 130); // as a shell's interrupt
    if (key.ctrl && input === "z") return suspend();
    if (key.ctrl || key.meta) return; // no other chord does anything
    if (st.asking) {
      const yes = st.asking;
      st.asking = undefined;
      st.message = input === "y" ? undefined : "(not done)";
      redraw();
      if (input === "y") yes();
      return;
    }
    if (input === "q") return api.quit();
    const rows = sorted();
    const i = selectedIndex(rows);
    const page = Math.max(1, room() - 1);
    const move = key.upArrow || input === "k" ? -1 : key.downArrow || input === "j" ? 1 : key.pageUp ? -page : key.pageDown ? page : input === "g" || key.home ? -rows.length : input === "G" || key.end ? rows.length : 0;
    if (move) {
      const next = Math.max(0, Math.min(rows.length - 1, i + move));
      if (rows[next]) {
        st.selected = p.rowKey(rows[next]!);
        st.lastIndex = next;
      }
      return redraw();
    }
    if (key.leftArrow || key.rightArrow) {
      const n = p.columns.length;
      st.sortBy = (st.sortBy + (key.leftArrow ? n - 1 : 1)) % n;
      st.desc = !!p.columns[st.sortBy]!.descFirst;
      return redraw();
    }
    if (input === "o") {
      st.desc = !st.desc;
      return redraw();
    }
    for (const x of p.extra ?? []) if (x.on(input, key, rows[i], api)) return;
  };

  useInput(
    (input, key) => {
      // plain keys typed faster than they are read come as one string ("jjj"): each counts
      const plain = !key.ctrl && !key.meta && !key.escape && !key.return && [...input].length > 1;
      if (!plain) return onKey(input, key);
      for (const ch of input) {
        if (!alive.current || st.other !== undefined) return;
        onKey(ch, { ...key, shift: ch !== ch.toLowerCase() });
      }
    },
    { isActive: st.other === undefined },
  );

  const width = Math.max(10, stdout.columns ?? 80);
  const height = Math.max(3, stdout.rows ?? 24);
  const keysHelp = fit(["q quit", "↑↓ select", "←→ sort", "o order", ...(p.extra ?? []).map((x) => `${x.keys} ${x.help}`)].join(" · "), width - 1);
  const status = p.status?.();
  // lines besides the rows: title, status, heading, the line under the table, the keys; one more
  // kept free so that the frame never fills the terminal
  const room = () => Math.max(1, height - (4 + (status ? 1 : 0) + 1));

  if (st.other !== undefined) return <>{st.other}</>;

  const rows = sorted();
  const index = selectedIndex(rows);
  const cells = rows.map((r) => p.columns.map((c) => printable(c.text(r))));
  const titles = p.columns.map((c, i) => (i === st.sortBy ? `${c.title} ${st.desc ? "▼" : "▲"}` : c.title));
  const widths = columnWidths(
    p.columns.map((c, i) => Math.max([...titles[i]!].length, ...cells.map((r) => [...r[i]!].length))),
    p.columns.map((c) => c.shrink),
    width,
    p.columns.map((c) => c.shrinkOrder ?? 0),
  );
  const line = (texts: string[]) => texts.map((s, i) => pad(fit(s, widths[i]!), widths[i]!, p.columns[i]!.right)).join(" ".repeat(GAP));
  const n = room();
  const start = Math.max(0, Math.min(index - Math.floor(n / 2), rows.length - n));
  const under = st.ended ?? st.error ?? st.message ?? (st.rows !== undefined && !rows.length ? "(none)" : "");
  const count = st.rows === undefined ? "loading" : `${rows.length} ${rows.length === 1 ? p.noun[0] : p.noun[1]}`;

  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate">
        <Text bold>{p.title}</Text>
        <Text dimColor>
          {" · "}
          {count} · by {p.columns[st.sortBy]!.title} {st.desc ? "▼" : "▲"} · every {p.every / 1000}s · {st.loadedAt.toLocaleTimeString("en-GB")}
        </Text>
      </Text>
      {status ? (
        <Text dimColor wrap="truncate">
          {status}
        </Text>
      ) : null}
      <Text bold wrap="truncate">
        {"  " + line(titles)}
      </Text>
      {rows.slice(start, start + n).map((r, k) => {
        const sel = start + k === index;
        const texts = cells[start + k]!;
        return (
          <Text key={p.rowKey(r)} inverse={sel} wrap="truncate">
            {sel ? "› " : "  "}
            {p.columns.map((c, i) => (
              <Text key={i} color={sel ? undefined : c.color?.(r)}>
                {pad(fit(texts[i]!, widths[i]!), widths[i]!, c.right)}
                {i < p.columns.length - 1 ? " ".repeat(GAP) : ""}
              </Text>
            ))}
          </Text>
        );
      })}
      <Text wrap="truncate" color={st.error && !st.ended ? "red" : undefined} dimColor={!st.error && !st.message && !st.ended}>
        {under || " "}
      </Text>
      <Text dimColor wrap="truncate">
        {keysHelp}
      </Text>
    </Box>
  );
}

/**
 * Run a view until it quits. Only on a terminal both ways: the keys come from
 * stdin in raw mode. The terminal is given back as it was (ink restores it),
 * with the last frame left on the screen.
 */
export async function runView(node: (onExit: (code: number) => void) => React.ReactElement): Promise<number> {
  const { render } = await import("ink");
  let code = 0;
  const app = render(node((c) => (code = c)), { exitOnCtrlC: false, patchConsole: false });
  await app.waitUntilExit();
  return code;
}
