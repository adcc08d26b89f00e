// tspod ps --watch on a terminal: the live table of containers, with the
// commands a person reaches for on the selected one (stop, start, restart,
// kill and remove after a yes, pause) and its logs, followed, in the table's
// place. Each command is tspod itself run on that container, as typed at a shell.
import React, { useEffect, useReducer, useRef } from "react";
import { Box, Text, useInput, useStdout } from "ink";
import { LiveTable, printable, runView, type Column, type ExtraKey, type TableApi } from "./table.tsx";
import type { PsRow } from "../cli/impl/ps.ts";

const RANK: Record<string, number> = { running: 0, paused: 1, stopping: 2, created: 3, exited: 4 };

function columns(o: { pod: boolean; size: boolean }): Column<PsRow>[] {
  return [
    { title: "CONTAINER ID", text: (r) => r.ID, shrink: 8, shrinkOrder: 3 },
    { title: "IMAGE", text: (r) => r.Image, shrink: 10 },
    { title: "COMMAND", text: (r) => r.Command, shrink: 8 },
    { title: "CREATED", text: (r) => r.CreatedHuman, sort: (r) => r.Created, descFirst: true, shrink: 8, shrinkOrder: 1 },
    {
      title: "STATUS",
      text: (r) => r.Status,
      // running first, the longest up first; then paused, created, exited (the latest first)
      sort: (r) => (RANK[r.State] ?? 5) * 1e10 + (r.State === "exited" ? 5e9 - r.ExitedAt : r.StartedAt),
      shrink: 10,
      shrinkOrder: 2,
      color: (r) => (r.State === "running" ? "green" : r.State === "exited" && r.ExitCode !== 0 ? "red" : r.State === "paused" ? "yellow" : undefined),
    },
    { title: "PORTS", text: (r) => r.Ports, shrink: 5 },
    { title: "NAMES", text: (r) => r.Names, shrink: 10, shrinkOrder: 4 },
    ...(o.pod ? [{ title: "POD ID", text: (r: PsRow) => r.Pod, shrink: 6 }, { title: "PODNAME", text: (r: PsRow) => r.PodName, shrink: 8 }] : []),
    ...(o.size ? [{ title: "SIZE", text: (r: PsRow) => r.Size }] : []),
  ];
}

/** ps --sort's keys: the column it starts sorted by. */
const SORT_COLUMN: Record<string, number> = { id: 0, image: 1, command: 2, created: 3, runningfor: 3, status: 4, names: 6 };

export interface PsViewOptions {
  /** the rows, with the stopped ones too when all */
  rows: (all: boolean) => Promise<PsRow[]>;
  every: number;
  all: boolean;
  /** --filter given: the rows are what it keeps (a shows nothing more) */
  filtered: boolean;
  /** --sort */
  sort?: string;
  pod: boolean;
  size: boolean;
  /** --root, --runroot...: what the commands run from the view need to reach this store */
  globals: string[];
}

/** tspod ARGS as a command line (its stderr joined to its stdout, in the order written). */
const tspodArgv = (globals: string[], args: string[]) => ["/bin/sh", "-c", 'exec "$0" "$@" 2>&1', process.execPath, ...globals, ...args];

/** Run tspod ARGS; resolves to its first error line, or undefined when it worked. */
async function tspod(globals: string[], args: string[]): Promise<string | undefined> {
  const p = Bun.spawn(tspodArgv(globals, args), { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
  const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
  if (code === 0) return undefined;
  return out.split("\n").find((l) => l.startsWith("Error"))?.replace(/^Error: /, "") ?? `exit ${code}`;
}

/** The logs of one container, followed (tspod logs -f), in the table's place until Esc or q. */
function LogsView(p: { id: string; name: string; globals: string[]; close: () => void; interrupt: () => void }): React.ReactElement {
  const { stdout } = useStdout();
  const [, redraw] = useReducer((n: number) => n + 1, 0);
  const st = useRef({ lines: [] as string[], ended: undefined as string | undefined }).current;
  useEffect(() => {
    const c = Bun.spawn(tspodArgv(p.globals, ["logs", "-f", "--tail", "500", p.id]), { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
    let alive = true;
    void (async () => {
      const dec = new TextDecoder();
      let part = "";
      for await (const chunk of c.stdout) {
        part += dec.decode(chunk, { stream: true });
        const done = part.split("\n");
        part = done.pop()!;
        if (!alive || !done.length) continue;
        st.lines = [...st.lines, ...done.map(printable)].slice(-2000);
        redraw();
      }
      if (part) st.lines = [...st.lines, printable(part)].slice(-2000);
      await c.exited;
      if (!alive) return;
      // how it ended: the container's exit code, as inspect says
      const i = Bun.spawn(tspodArgv(p.globals, ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", p.id]), { stdin: "ignore", stdout: "pipe", stderr: "ignore" });
      const [state, code] = (await new Response(i.stdout).text()).trim().split(" ");
      st.ended = state === "exited" ? `the container exited with code ${code}` : state ? `logs ended (the container is ${state})` : "logs ended (the container is gone)";
      redraw();
    })();
    stdout.on("resize", redraw);
    return () => {
      alive = false;
      c.kill();
      stdout.off("resize", redraw);
    };
  }, []);
  useInput((input, key) => {
    if (key.ctrl && input === "c") p.interrupt();
    else if (input === "q" || key.escape || key.leftArrow) p.close();
  });
  // title, the end line, one free: the frame never fills the terminal
  const room = Math.max(1, (stdout.rows ?? 24) - 3);
  return (
    <Box flexDirection="column" width={Math.max(10, stdout.columns ?? 80)}>
      <Text wrap="truncate">
        <Text bold>logs of {p.name}</Text>
        <Text dimColor> · {st.ended ? "ended" : "following"} · Esc back</Text>
      </Text>
      {st.lines.slice(-(room - 1)).map((l, i) => (
        <Text key={i} wrap="truncate">
          {l || " "}
        </Text>
      ))}
      <Text dimColor wrap="truncate">
        {st.ended ? `(${st.ended})` : " "}
      </Text>
    </Box>
  );
}

/** The view until it is quit: its exit code (130 after Ctrl-C). */
export function psView(o: PsViewOptions): Promise<number> {
  let all = o.all;
  // one command at a time per container: a second key on it waits for the first to end
  const busy = new Map<string, string>();
  const run = (api: TableApi, row: PsRow, args: string[], did: string) => {
    const doing = busy.get(row.Id);
    if (doing) return api.say(`${row.Names}: ${doing} still running`);
    busy.set(row.Id, args[0]!);
    api.say(`${args.join(" ")} ${row.Names}...`);
    void tspod(o.globals, [...args, row.Id]).then((err) => {
      busy.delete(row.Id);
      api.say(err ? `${row.Names}: ${err}` : `${did} ${row.Names}`);
      api.reload();
    });
  };
  const act = (key: string, help: string, args: (r: PsRow) => string[], did: (r: PsRow) => string, ask?: (r: PsRow) => string): ExtraKey<PsRow> => ({
    keys: key,
    help,
    on(input, _key, row, api) {
      if (input !== key) return false;
      if (!row) return true;
      if (ask) api.ask(ask(row), () => run(api, row, args(row), did(row)));
      else run(api, row, args(row), did(row));
      return true;
    },
  });
  const extra: ExtraKey<PsRow>[] = [
    {
      keys: "enter",
      help: "logs",
      on(input, key, row, api) {
        if (!key.return && input !== "l") return false;
        if (row) api.replace(<LogsView id={row.Id} name={row.Names} globals={o.globals} close={() => api.replace(undefined)} interrupt={() => api.quit(130)} />);
        return true;
      },
    },
    act("s", "stop", () => ["stop"], () => "stopped"),
    act("t", "start", () => ["start"], () => "started"),
    act("r", "restart", () => ["restart"], () => "restarted"),
    act("K", "kill", () => ["kill"], () => "killed", (r) => `kill ${r.Names}?`),
    act("p", "pause", (r) => [r.State === "paused" ? "unpause" : "pause"], (r) => (r.State === "paused" ? "unpaused" : "paused")),
    act("d", "remove", () => ["rm", "-f"], () => "removed", (r) => `remove ${r.Names}${r.State === "running" || r.State === "paused" ? " (it runs: it is killed)" : ""}?`),
    {
      keys: "a",
      help: "all",
      on(input, _key, _row, api) {
        if (input !== "a") return false;
        if (o.filtered) return api.say("--filter, -n or -l choose the containers shown"), true;
        all = !all;
        api.reload();
        return true;
      },
    },
  ];
  return runView((onExit) => (
    <LiveTable<PsRow>
      onExit={onExit}
      title="tspod ps"
      noun={["container", "containers"]}
      columns={columns(o)}
      rowKey={(r) => r.Id}
      load={() => o.rows(all)}
      every={o.every}
      sortBy={o.sort ? (SORT_COLUMN[o.sort] ?? 3) : 3}
      descending={!o.sort}
      extra={extra}
      status={() => (o.filtered ? "the containers --filter, -n or -l keep" : all ? "all containers (a: running only)" : "running containers (a: all)")}
    />
  ));
}
