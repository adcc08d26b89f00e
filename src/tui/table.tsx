// A live table for the terminal (ink): rows reloaded every few seconds, one
// selected with the arrow keys, sorted by a column (←/→ picks it, r reverses),
// q or Esc to quit. stats and ps --watch are made of it; commands they offer
// on the selected row (stop, logs...) come in as extra keys.
import React, { useEffect, useRef, useState } from "react";
import { Box, Text, useApp, useInput, useStdout, type Key } from "ink";

export interface Column<R> {
  title: string;
  text: (r: R) => string;
  /** what the column sorts by; without it, its text */
  sort?: (r: R) => number | string;
  /** numbers: right-aligned */
  right?: boolean;
  color?: (r: R) => string | undefined;
}

/** What a key handler may do. */
export interface TableApi {
  /** a line under the table (what an action did) */
  say(msg: string): void;
  /** load the rows again now */
  reload(): void;
  /** show something else in the table's place until it calls back */
  replace(node: React.ReactNode | undefined): void;
  quit(): void;
}

export interface ExtraKey<R> {
  keys: string;
  help: string;
  /** not listed under the table */
  hidden?: boolean;
  /** true when the key was this one's */
  on(input: string, key: Key, row: R | undefined, api: TableApi): boolean;
}

export interface LiveTableProps<R> {
  title: string;
  /** the noun for the count in the title ("containers") */
  noun: string;
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
  /** after a load: true ends the view (what it watched is gone) */
  finished?: (rows: R[], first: boolean) => boolean;
  /** a line above the table (what the title leaves out: a mode, a filter) */
  status?: () => string;
}

const pad = (s: string, n: number, right?: boolean) => (right ? s.padStart(n) : s.padEnd(n));

function compare(a: number | string, b: number | string): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b));
}

export function LiveTable<R>(p: LiveTableProps<R>): React.ReactElement {
  const { exit } = useApp();
  const { stdout } = useStdout();
  const [rows, setRows] = useState<R[] | undefined>(p.initial);
  const [error, setError] = useState<string>();
  const [sortBy, setSortBy] = useState(p.sortBy ?? 0);
  const [desc, setDesc] = useState(p.descending ?? false);
  const [selected, setSelected] = useState<string>();
  const [message, setMessage] = useState<string>();
  const [other, setOther] = useState<React.ReactNode>();
  const [size, setSize] = useState({ columns: stdout.columns ?? 80, rows: stdout.rows ?? 24 });
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  const first = useRef(true);
  const alive = useRef(true);

  const load = async () => {
    clearTimeout(timer.current);
    try {
      const got = await p.load();
      if (!alive.current) return;
      setRows(got);
      setError(undefined);
      if (p.finished?.(got, first.current)) {
        alive.current = false;
        exit();
        return;
      }
    } catch (e) {
      if (!alive.current) return;
      setError((e as Error).message);
    }
    first.current = false;
    if (alive.current) timer.current = setTimeout(load, p.every);
  };

  useEffect(() => {
    if (p.initial) {
      first.current = false;
      timer.current = setTimeout(load, p.every);
    } else void load();
    const onResize = () => setSize({ columns: stdout.columns ?? 80, rows: stdout.rows ?? 24 });
    stdout.on("resize", onResize);
    return () => {
      alive.current = false;
      clearTimeout(timer.current);
      stdout.off("resize", onResize);
    };
  }, []);

  const col = p.columns[sortBy]!;
  const sorted = [...(rows ?? [])].sort((a, b) => {
    const c = compare((col.sort ?? col.text)(a), (col.sort ?? col.text)(b));
    return desc ? -c : c;
  });
  let index = sorted.findIndex((r) => p.rowKey(r) === selected);
  if (index < 0) index = 0;
  const current = sorted[index];

  const api: TableApi = {
    say: (m) => setMessage(m),
    reload: () => void load(),
    replace: (node) => setOther(node),
    quit: () => {
      alive.current = false;
      exit();
    },
  };

  useInput(
    (input, key) => {
      if (input === "q" || key.escape) return api.quit();
      if (key.upArrow || key.downArrow) {
        const next = Math.max(0, Math.min(sorted.length - 1, index + (key.upArrow ? -1 : 1)));
        if (sorted[next]) setSelected(p.rowKey(sorted[next]!));
        return;
      }
      if (key.leftArrow || key.rightArrow) {
        const n = p.columns.length;
        const next = (sortBy + (key.leftArrow ? n - 1 : 1)) % n;
        setSortBy(next);
        // numbers read best largest first, words from A
        setDesc(!!p.columns[next]!.right);
        return;
      }
      if (input === "r") return setDesc((d) => !d);
      for (const x of p.extra ?? []) if (x.on(input, key, current, api)) return;
    },
    { isActive: other === undefined },
  );

  if (other !== undefined) return <>{other}</>;

  const width = Math.max(20, size.columns);
  const widths = p.columns.map((c) => Math.max(c.title.length + 2, ...sorted.map((r) => c.text(r).length)));
  const line = (cells: string[]) => cells.map((s, i) => pad(s, widths[i]!, p.columns[i]!.right)).join("   ");
  // the selected row has a mark as well as its colours: a terminal without colours shows it too
  const heading = "  " + line(p.columns.map((c, i) => (i === sortBy ? `${c.title} ${desc ? "▼" : "▲"}` : c.title)));
  // title, status, heading, message, the keys (two lines on a narrow terminal): the rest is rows, a window around the selection
  const room = Math.max(1, size.rows - 7);
  const start = Math.max(0, Math.min(index - Math.floor(room / 2), sorted.length - room));
  const shown = sorted.slice(start, start + room);
  const keysHelp = ["↑↓ select", "←→ sort", "r reverse", ...(p.extra ?? []).filter((x) => !x.hidden).map((x) => `${x.keys} ${x.help}`), "q quit"].join(" · ");
  const status = p.status?.();

  return (
    <Box flexDirection="column" width={width}>
      <Text wrap="truncate">
        <Text bold>{p.title}</Text>
        <Text dimColor>
          {" · "}
          {rows === undefined ? "loading" : `${rows.length} ${p.noun}`} · every {p.every / 1000}s · {new Date().toLocaleTimeString("en-GB")}
        </Text>
      </Text>
      {status ? (
        <Text dimColor wrap="truncate">
          {status}
        </Text>
      ) : null}
      <Text bold wrap="truncate">
        {heading}
      </Text>
      {shown.map((r) => {
        const sel = p.rowKey(r) === p.rowKey(current!);
        return (
          <Text key={p.rowKey(r)} inverse={sel} wrap="truncate">
            {sel ? "› " : "  "}
            {p.columns.map((c, i) => (
              <Text key={i} color={sel ? undefined : c.color?.(r)}>
                {pad(c.text(r), widths[i]!, c.right)}
                {i < p.columns.length - 1 ? "   " : ""}
              </Text>
            ))}
          </Text>
        );
      })}
      {rows !== undefined && !rows.length ? <Text dimColor>(none)</Text> : null}
      {error ? (
        <Text color="red" wrap="truncate">
          {error}
        </Text>
      ) : null}
      {message ? <Text wrap="truncate">{message}</Text> : null}
      <Text dimColor>{keysHelp}</Text>
    </Box>
  );
}

/**
 * Run a view until it quits. Only on a terminal both ways: the keys come from
 * stdin in raw mode. The terminal is given back as it was (ink restores it),
 * with the last frame left on the screen.
 */
export async function runView(node: React.ReactElement): Promise<void> {
  const { render } = await import("ink");
  const app = render(node, { exitOnCtrlC: true, patchConsole: false });
  await app.waitUntilExit();
}
