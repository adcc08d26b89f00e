// tspod ps --watch on a terminal: the live table of containers, with the
// commands a person reaches for on the selected one (stop, start, restart,
// kill, pause, remove after a yes) and its logs, followed, in the table's place.
// Each command is tspod itself run on that container, as typed at a shell.
import React, { useEffect, useRef, useState } from "react";
import { Box, Text, useInput, useStdout } from "ink";
import { LiveTable, runView, type Column, type ExtraKey, type TableApi } from "./table.tsx";
import type { PsRow } from "../cli/impl/ps.ts";

const COLUMNS: Column<PsRow>[] = [
  { title: "CONTAINER ID", text: (r) => r.ID },
  { title: "IMAGE", text: (r) => r.Image },
  { title: "COMMAND", text: (r) => r.Command },
  { title: "CREATED", text: (r) => r.CreatedHuman, sort: (r) => r.Created },
  { title: "STATUS", text: (r) => r.Status, color: (r) => (r.State === "running" ? "green" : r.State === "exited" && r.ExitCode !== 0 ? "red" : r.State === "paused" ? "yellow" : undefined) },
  { title: "PORTS", text: (r) => r.Ports },
  { title: "NAMES", text: (r) => r.Names },
];

export interface PsViewOptions {
  /** the rows, with the stopped ones too when all */
  rows: (all: boolean) => Promise<PsRow[]>;
  every: number;
  all: boolean;
  /** --root, --runroot...: what the commands run from the view need to reach this store */
  globals: string[];
}

/** Run tspod ARGS; resolves to its first error line, or undefined when it worked. */
async function tspod(globals: string[], args: string[]): Promise<string | undefined> {
  const p = Bun.spawn([process.execPath, ...globals, ...args], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const [err, code] = await Promise.all([new Response(p.stderr).text(), p.exited]);
  if (code === 0) return undefined;
  return err.split("\n").find((l) => l.trim())?.replace(/^Error: /, "") ?? `exit ${code}`;
}

/** Printable text of a log line: tabs as spaces, other control characters (escapes, \r) dropped. */
const printable = (s: string) => s.replace(/\t/g, "    ").replace(/\x1b\[[0-9;?]*[ -/]*[@-~]|[\x00-\x1f\x7f]/g, "");

/** The logs of one container, followed (tspod logs -f), in the table's place until Esc or q. */
function LogsView(p: { id: string; name: string; globals: string[]; close: () => void }): React.ReactElement {
  const { stdout } = useStdout();
  const [lines, setLines] = useState<string[]>([]);
  const [ended, setEnded] = useState<string>();
  const child = useRef<ReturnType<typeof Bun.spawn>>(undefined);
  useEffect(() => {
    const c = Bun.spawn([process.execPath, ...p.globals, "logs", "-f", "--tail", "500", p.id], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    child.current = c;
    let alive = true;
    const read = async (s: ReadableStream<Uint8Array>) => {
      const dec = new TextDecoder();
      let part = "";
      for await (const chunk of s) {
        part += dec.decode(chunk, { stream: true });
        const done = part.split("\n");
        part = done.pop()!;
        if (alive && done.length) setLines((old) => [...old, ...done.map(printable)].slice(-2000));
      }
      if (alive && part) setLines((old) => [...old, printable(part)].slice(-2000));
    };
    void Promise.all([read(c.stdout), read(c.stderr), c.exited]).then(([, , code]) => alive && setEnded(code === 0 ? "the container has stopped: no more output" : `logs ended (exit ${code})`));
    return () => {
      alive = false;
      c.kill();
    };
  }, []);
  useInput((input, key) => {
    if (input === "q" || key.escape || key.leftArrow) p.close();
  });
  const room = Math.max(1, (stdout.rows ?? 24) - 3);
  return (
    <Box flexDirection="column" width={Math.max(20, stdout.columns ?? 80)}>
      <Text wrap="truncate">
        <Text bold>logs of {p.name}</Text>
        <Text dimColor> · {ended ? "ended" : "following"} · Esc back</Text>
      </Text>
      {lines.slice(-room).map((l, i) => (
        <Text key={i} wrap="truncate">
          {l || " "}
        </Text>
      ))}
      {ended ? <Text dimColor>({ended})</Text> : null}
    </Box>
  );
}

export function psView(o: PsViewOptions): Promise<void> {
  let all = o.all;
  // a removal waits for a y
  let confirm: PsRow | undefined;
  const run = (api: TableApi, row: PsRow, args: string[], did: string) => {
    api.say(`${args.join(" ")} ${row.Names}...`);
    void tspod(o.globals, [...args, row.Id]).then((err) => {
      api.say(err ? `${row.Names}: ${err}` : `${did} ${row.Names}`);
      api.reload();
    });
  };
  const act = (keys: string, help: string, match: (input: string) => boolean, args: (r: PsRow) => string[], did: (r: PsRow) => string): ExtraKey<PsRow> => ({
    keys,
    help,
    on(input, _key, row, api) {
      if (!match(input)) return false;
      if (row) run(api, row, args(row), did(row));
      return true;
    },
  });
  const extra: ExtraKey<PsRow>[] = [
    {
      keys: "y/n",
      help: "",
      hidden: true,
      on(input, _key, _row, api) {
        if (!confirm) return false;
        const r = confirm;
        confirm = undefined;
        if (input === "y") run(api, r, ["rm", "-f"], "removed");
        else api.say("");
        return true;
      },
    },
    {
      keys: "enter/l",
      help: "logs",
      on(input, key, row, api) {
        if (!(key.return || input === "l") || !row) return key.return || input === "l";
        api.replace(<LogsView id={row.Id} name={row.Names} globals={o.globals} close={() => api.replace(undefined)} />);
        return true;
      },
    },
    act("s", "stop", (i) => i === "s", () => ["stop"], () => "stopped"),
    act("t", "start", (i) => i === "t", () => ["start"], () => "started"),
    act("R", "restart", (i) => i === "R", () => ["restart"], () => "restarted"),
    act("k", "kill", (i) => i === "k", () => ["kill"], () => "killed"),
    act("p", "pause/unpause", (i) => i === "p", (r) => [r.State === "paused" ? "unpause" : "pause"], (r) => (r.State === "paused" ? "unpaused" : "paused")),
    {
      keys: "d",
      help: "remove",
      on(input, _key, row, api) {
        if (input !== "d") return false;
        if (row) {
          confirm = row;
          api.say(`remove ${row.Names}${row.State === "running" ? " (it is running: it is killed)" : ""}? y/n`);
        }
        return true;
      },
    },
    {
      keys: "a",
      help: "all/running",
      on(input, _key, _row, api) {
        if (input !== "a") return false;
        all = !all;
        api.reload();
        return true;
      },
    },
  ];
  return runView(
    <LiveTable<PsRow>
      title="tspod ps"
      noun="containers"
      columns={COLUMNS}
      rowKey={(r) => r.Id}
      load={() => o.rows(all)}
      every={o.every}
      sortBy={3}
      descending
      extra={extra}
      status={() => (all ? "all containers" : "running containers (a: all)")}
    />,
  );
}
