// `--format` support: "json", or a Go-template subset as Podman users write it:
// {{.Field}}, {{.A.B}}, {{json .X}}, {{upper .X}}, {{lower .X}}, {{join .X ","}},
// {{index .Map "key"}}, and a leading "table" that prints a header and aligns columns.
import { UsageError } from "../errors.ts";

type Value = unknown;

function lookup(obj: Value, path: string): Value {
  if (path === ".") return obj;
  let cur: any = obj;
  for (const part of path.replace(/^\./, "").split(".")) {
    if (cur === null || cur === undefined) return undefined;
    if (typeof cur !== "object") return undefined;
    if (!(part in cur)) {
      // Podman accepts case-insensitive field access for a few legacy names; be forgiving likewise.
      const k = Object.keys(cur).find((x) => x.toLowerCase() === part.toLowerCase());
      if (k === undefined) throw new UsageError(`template: can't evaluate field ${part}`);
      cur = cur[k];
    } else cur = cur[part];
  }
  return cur;
}

function str(v: Value): string {
  if (v === undefined || v === null) return "<no value>";
  if (Array.isArray(v)) return `[${v.map(str).join(" ")}]`;
  if (typeof v === "object") return `map[${Object.entries(v as object).map(([k, x]) => `${k}:${str(x)}`).join(" ")}]`;
  return String(v);
}

function parseArgs(s: string): string[] {
  const out: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) out.push(m[1] !== undefined ? JSON.parse(`"${m[1]}"`) : m[2]);
  return out;
}

function evalAction(action: string, data: Value): string {
  const raw = action.trim();
  if (raw.startsWith('"')) return JSON.parse(raw);
  const args = parseArgs(raw);
  const arg = (i: number) => {
    const a = args[i];
    if (a === undefined) throw new UsageError(`template: missing argument in {{${raw}}}`);
    return a.startsWith(".") ? lookup(data, a) : a;
  };
  switch (args[0]) {
    case "json":
      return JSON.stringify(arg(1));
    case "upper":
      return str(arg(1)).toUpperCase();
    case "lower":
      return str(arg(1)).toLowerCase();
    case "join": {
      const v = arg(1);
      return Array.isArray(v) ? v.map(str).join(String(arg(2))) : str(v);
    }
    case "index": {
      const v: any = arg(1);
      const k = arg(2) as string;
      return str(v?.[k]);
    }
    case "println":
      return args.slice(1).map((_, i) => str(arg(i + 1))).join(" ") + "\n";
    default:
      if (args[0]?.startsWith(".")) return str(lookup(data, args[0]));
      throw new UsageError(`template: function "${args[0]}" not defined`);
  }
}

export function renderTemplate(tpl: string, data: Value): string {
  tpl = tpl.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  return tpl.replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_, a: string) => evalAction(a, data));
}

/** Header for a `table` template: each {{.Field}} becomes its upper-cased name. */
function headerFor(tpl: string, headers: Record<string, string>): string {
  return tpl.replace(/\\t/g, "\t").replace(/\{\{-?\s*(.*?)\s*-?\}\}/g, (_, a: string) => {
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

/**
 * Render a list: "json" gives a JSON array; "table ..." a header plus aligned rows;
 * any other template one line per item.
 */
export function formatList(items: Value[], format: string, headers: Record<string, string> = {}): string {
  if (format === "json") return JSON.stringify(items, null, 4) + "\n";
  if (format.startsWith("table")) {
    const tpl = format.replace(/^table\s*/, "");
    return alignColumns([headerFor(tpl, headers), ...items.map((i) => renderTemplate(tpl, i))]);
  }
  return items.map((i) => renderTemplate(format, i) + "\n").join("");
}
