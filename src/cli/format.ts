// `--format` support: "json", or a Go template (src/cli/template.ts) as Podman
// users write it, and a leading "table" that prints a header and aligns columns.

import { check, execute, GoTime } from "./template.ts";

type Value = unknown;

function parseArgs(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] !== undefined ? JSON.parse(`"${m[1]}"`) : m[2]);
  return out;
}

/**
 * Inspect data as a template sees Podman's: the fields Podman has as
 * time.Time (a container's Created, State.StartedAt and State.FinishedAt; an
 * image's Created and its History's created) print as Go prints a time.
 */
export function withGoTimes(o: Record<string, any>): Record<string, any> {
  const t = (v: unknown) => (typeof v === "string" && v ? new GoTime(v) : v);
  const out: Record<string, any> = { ...o, Created: t(o.Created) };
  if (o.State && typeof o.State === "object") out.State = { ...o.State, StartedAt: t(o.State.StartedAt), FinishedAt: t(o.State.FinishedAt) };
  if (Array.isArray(o.History)) out.History = o.History.map((h: any) => (h && typeof h === "object" && "created" in h ? { ...h, created: t(h.created) } : h));
  return out;
}

/** A Go template (see template.ts) with \t and \n written as escapes, as Podman users type them. */
export function renderTemplate(tpl: string, data: Value): string {
  return execute(unescape(tpl), data);
}

const unescape = (tpl: string) => tpl.replace(/\\t/g, "\t").replace(/\\n/g, "\n");

/** Header for a `table` template: each {{.Field}} becomes its upper-cased name. */
function headerFor(tpl: string, headers: Record<string, string>): string {
  return unescape(tpl).replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_, a: string) => {
    const args = parseArgs(a);
    const f = args.find((x) => x.startsWith(".")) ?? a;
    const name = f.replace(/^\./, "");
    return headers[name] ?? name.replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
  });
}

/** Align tab-separated columns the way Go's tabwriter does with padding 3. */
export function alignColumns(lines: string[], pad = 3): string {
  const rows = lines.map((l) => l.split("\t"));
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => { if (i < r.length - 1) widths[i] = Math.max(widths[i] ?? 0, [...c].length); });
  return rows.map((r) => r.map((c, i) => (i < r.length - 1 ? c.padEnd(widths[i] + pad) : c)).join("").trimEnd()).join("\n") + (rows.length ? "\n" : "");
}

export function formatOutput(data: Value, format: string): string {
  if (format === "json") return JSON.stringify(data, null, 4);
  return renderTemplate(format, data).replace(/\n$/, "");
}

/** Refuse a template that does not parse before anything is done or printed. */
export function checkFormat(format: string | undefined): void {
  if (format && format !== "json") check(unescape(format.replace(/^table\s*/, "")));
}

/**
 * In a `table` template, spaces between the fields separate columns as tabs
 * do (as Podman reads `table {{.ID}} {{.Tag}}`); spaces inside {{...}} stay.
 */
function tableColumns(tpl: string): string {
  return tpl.split(/(\{\{.*?\}\})/).map((part, i) => (i % 2 ? part : part.replace(/ +/g, "\t"))).join("");
}

/**
 * Render a list: "json" gives a JSON array; "table ..." a header plus aligned rows;
 * any other template one line per item.
 */
export function formatList(items: Value[], format: string, headers: Record<string, string> = {}, noHeading = false): string {
  if (format === "json") return JSON.stringify(items, null, 4) + "\n";
  checkFormat(format); // an empty list does not make a bad template good
  if (format.startsWith("table")) {
    const tpl = tableColumns(format.replace(/^table\s*/, ""));
    const rows = items.map((i) => renderTemplate(tpl, i));
    return alignColumns(noHeading ? rows : [headerFor(tpl, headers), ...rows]);
  }
  return items.map((i) => renderTemplate(format, i) + "\n").join("");
}
