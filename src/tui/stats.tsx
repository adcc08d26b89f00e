// tspod stats on a terminal: the live table, sorted by CPU at the start.
import React from "react";
import { LiveTable, runView, type Column } from "./table.tsx";

/** The fields of a stats row the view shows (cli/stats.ts makes them). */
export interface StatsViewRow {
  ID: string;
  Name: string;
  CPUPerc: string;
  CPU: number;
  MemUsage: string;
  MemBytes: number;
  MemLimit: number;
  MemPerc: string;
  NetIO: string;
  NetInput: number;
  NetOutput: number;
  BlockIO: string;
  BlockInput: number;
  BlockOutput: number;
  PIDS: string;
  PIDs: number;
  UpTime: string;
  CPUNano: number;
  AVGCPU: string;
  AvgCPU: number;
}

const hot = (pct: number) => (pct >= 80 ? "red" : pct >= 50 ? "yellow" : undefined);

// Podman's columns and order; the names narrow first, then the IDs
const COLUMNS: Column<StatsViewRow>[] = [
  { title: "ID", text: (r) => r.ID, shrink: 6, shrinkOrder: 1 },
  { title: "NAME", text: (r) => r.Name, shrink: 8 },
  { title: "CPU %", text: (r) => r.CPUPerc, sort: (r) => r.CPU, right: true, descFirst: true, color: (r) => hot(r.CPU) },
  { title: "MEM USAGE / LIMIT", text: (r) => r.MemUsage, sort: (r) => r.MemBytes, right: true, descFirst: true },
  { title: "MEM %", text: (r) => r.MemPerc, sort: (r) => (r.MemLimit ? r.MemBytes / r.MemLimit : 0), right: true, descFirst: true, color: (r) => hot(parseFloat(r.MemPerc)) },
  { title: "NET IO", text: (r) => r.NetIO, sort: (r) => r.NetInput + r.NetOutput, right: true, descFirst: true },
  { title: "BLOCK IO", text: (r) => r.BlockIO, sort: (r) => r.BlockInput + r.BlockOutput, right: true, descFirst: true },
  { title: "PIDS", text: (r) => r.PIDS, sort: (r) => r.PIDs, right: true, descFirst: true },
  { title: "CPU TIME", text: (r) => r.UpTime, sort: (r) => r.CPUNano, right: true, descFirst: true },
  { title: "AVG CPU %", text: (r) => r.AVGCPU, sort: (r) => r.AvgCPU, right: true, descFirst: true },
];

export interface StatsViewOptions {
  /** the first report, made before (it may refuse the names given) */
  initial: StatsViewRow[];
  /** the next report: rows for the containers watched */
  report: () => StatsViewRow[];
  every: number;
  /** containers were named: the view ends once none of them runs */
  named: boolean;
}

/** The view until it is quit: its exit code (130 after Ctrl-C). */
export function statsView(o: StatsViewOptions): Promise<number> {
  return runView((onExit) => (
    <LiveTable<StatsViewRow>
      onExit={onExit}
      title="tspod stats"
      noun={["container", "containers"]}
      columns={COLUMNS}
      rowKey={(r) => r.ID}
      initial={o.initial}
      load={o.report}
      every={o.every}
      sortBy={2}
      descending
      finished={(rows) => (o.named && rows.length === 0 ? "(none of the containers named runs any more)" : undefined)}
    />
  ));
}
