// Go's text/template, the part `--format` users write (Podman's and Docker's
// documentation and scripts): fields and variables, pipelines, parentheses,
// if/else if/else, range (with else, $i, $v :=, break and continue), with,
// define/template/block, {{- -}} trimming, comments, and the functions json,
// upper, lower, title, join, index, slice, len, printf, print, println,
// html, js, urlquery, call, eq, ne, lt, le, gt, ge, and, or, not, truncate.
// A template that does not parse, or a function that does not exist, is an
// error before anything is printed, as in Go.
import { UsageError } from "../errors.ts";
import { goTime } from "./human.ts";

type Value = unknown;

// ------------------------------------------------------------------ lexing

type Tok =
  | { k: "field"; path: string[] } // .A.B ("." alone: path [])
  | { k: "var"; name: string; path: string[] } // $x.A
  | { k: "str"; v: string }
  | { k: "num"; v: number }
  | { k: "bool"; v: boolean }
  | { k: "nil" }
  | { k: "ident"; v: string }
  | { k: "pipe" }
  | { k: "lparen" }
  | { k: "rparen"; path: string[] } // ).A.B: a field of the parenthesized value
  | { k: "decl" } // :=
  | { k: "assign" } // =
  | { k: "comma" };

const fail = (msg: string): never => {
  throw new UsageError(`template: ${msg}`);
};

/** The body of a Go "..." string: its escapes (\t, \n, \xHH, \uHHHH, octal...) resolved; raw tabs allowed. */
function goUnquote(body: string): string {
  const simple: Record<string, string> = { a: "\x07", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t", v: "\v", "\\": "\\", '"': '"', "'": "'" };
  return body.replace(/\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)/g, (m, e: string) => {
    if (e.length === 1) return simple[e] ?? fail(`invalid escape \\${e} in a quoted string`);
    if (/^[0-7]{3}$/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return String.fromCodePoint(parseInt(e.slice(1), 16));
  });
}

function lexAction(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const path = (): string[] => {
    const p: string[] = [];
    while (src[i] === "." && /[A-Za-z_]/.test(src[i + 1] ?? "")) {
      i++;
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      p.push(m[0]);
      i += m[0].length;
    }
    return p;
  };
  while (i < src.length) {
    const c = src[i]!;
    if (/\s/.test(c)) {
      i++;
    } else if (c === "|") {
      out.push({ k: "pipe" }), i++;
    } else if (c === "(") {
      out.push({ k: "lparen" }), i++;
    } else if (c === ")") {
      i++;
      out.push({ k: "rparen", path: path() }); // (pipeline).Field
    } else if (c === ",") {
      out.push({ k: "comma" }), i++;
    } else if (c === ":" && src[i + 1] === "=") {
      out.push({ k: "decl" }), (i += 2);
    } else if (c === "=") {
      out.push({ k: "assign" }), i++;
    } else if (c === '"') {
      const m = /^"((?:[^"\\]|\\.)*)"/.exec(src.slice(i));
      if (!m) fail(`unterminated quoted string in {{${src}}}`);
      out.push({ k: "str", v: goUnquote(m![1]!) });
      i += m![0].length;
    } else if (c === "`") {
      const end = src.indexOf("`", i + 1);
      if (end < 0) fail(`unterminated raw quoted string in {{${src}}}`);
      out.push({ k: "str", v: src.slice(i + 1, end) });
      i = end + 1;
    } else if (c === ".") {
      if (/[A-Za-z_]/.test(src[i + 1] ?? "")) out.push({ k: "field", path: path() });
      else out.push({ k: "field", path: [] }), i++;
    } else if (c === "$") {
      const m = /^\$[A-Za-z0-9_]*/.exec(src.slice(i))!;
      i += m[0].length;
      out.push({ k: "var", name: m[0], path: path() });
    } else if (/[-+0-9]/.test(c)) {
      const m = /^[-+]?(0x[0-9a-fA-F]+|\d+(\.\d+)?([eE][-+]?\d+)?)/.exec(src.slice(i));
      if (!m) fail(`bad number syntax in {{${src}}}`);
      out.push({ k: "num", v: Number(m![0]) });
      i += m![0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(src.slice(i))!;
      i += m[0].length;
      const w = m[0];
      out.push(w === "true" || w === "false" ? { k: "bool", v: w === "true" } : w === "nil" ? { k: "nil" } : { k: "ident", v: w });
    } else fail(`unexpected "${c}" in {{${src}}}`);
  }
  return out;
}

// ------------------------------------------------------------------ parsing

type Arg = Tok | { k: "sub"; pipe: Pipeline; path: string[] };
interface Cmd {
  args: Arg[];
}
interface Pipeline {
  decl?: string[]; // $x := / $i, $v :=
  assign?: boolean;
  cmds: Cmd[];
}
type Node =
  | { t: "text"; v: string }
  | { t: "out"; pipe: Pipeline }
  | { t: "if" | "with"; pipe: Pipeline; then: Node[]; else: Node[] }
  | { t: "range"; pipe: Pipeline; then: Node[]; else: Node[] }
  | { t: "template"; name: string; pipe?: Pipeline }
  | { t: "break" | "continue" };

/** A parsed template: its body and the templates it defines ({{define}}, {{block}}). */
interface Parsed {
  nodes: Node[];
  defs: Map<string, Node[]>;
}

function parsePipeline(toks: Tok[], src: string): Pipeline {
  let pos = 0;
  const p: Pipeline = { cmds: [] };
  // declarations: $x := ..., $i, $v := ..., $x = ...
  const declEnd = toks.findIndex((t) => t.k === "decl" || t.k === "assign");
  if (declEnd > 0 && toks.slice(0, declEnd).every((t) => t.k === "var" || t.k === "comma")) {
    p.decl = toks.slice(0, declEnd).filter((t): t is Extract<Tok, { k: "var" }> => t.k === "var").map((t) => t.name);
    p.assign = toks[declEnd]!.k === "assign";
    pos = declEnd + 1;
  }
  const parseArgs = (end: (t: Tok) => boolean): Cmd[] => {
    const cmds: Cmd[] = [];
    let cur: Arg[] = [];
    while (pos < toks.length && !end(toks[pos]!)) {
      const t = toks[pos++]!;
      if (t.k === "pipe") {
        if (!cur.length) fail(`missing command in {{${src}}}`);
        cmds.push({ args: cur });
        cur = [];
      } else if (t.k === "lparen") {
        const inner = parseArgs((x) => x.k === "rparen");
        const close = toks[pos++];
        if (close?.k !== "rparen") fail(`unclosed left paren in {{${src}}}`);
        cur.push({ k: "sub", pipe: { cmds: inner }, path: (close as Extract<Tok, { k: "rparen" }>).path });
      } else if (t.k === "rparen") fail(`unexpected right paren in {{${src}}}`);
      else if (t.k === "decl" || t.k === "assign" || t.k === "comma") fail(`unexpected "${t.k === "comma" ? "," : ":="}" in {{${src}}}`);
      else cur.push(t);
    }
    if (cur.length) cmds.push({ args: cur });
    else if (cmds.length) fail(`missing command after "|" in {{${src}}}`);
    return cmds;
  };
  p.cmds = parseArgs(() => false);
  if (!p.cmds.length) fail(`missing value in {{${src}}}`);
  return p;
}

function parse(tpl: string): Parsed {
  // split into text and actions, honouring {{- and -}} and comments
  const parts: ({ t: "text"; v: string } | { t: "action"; v: string })[] = [];
  let i = 0;
  while (i < tpl.length) {
    const open = tpl.indexOf("{{", i);
    if (open < 0) {
      parts.push({ t: "text", v: tpl.slice(i) });
      break;
    }
    let text = tpl.slice(i, open);
    let start = open + 2;
    if (tpl[start] === "-" && /\s/.test(tpl[start + 1] ?? "")) {
      text = text.replace(/\s+$/, "");
      start += 1;
    }
    if (text) parts.push({ t: "text", v: text });
    // the action ends at the first }} outside a quoted string
    let j = start;
    let quote = "";
    for (; j < tpl.length; j++) {
      const c = tpl[j]!;
      if (quote) {
        if (c === "\\" && quote === '"') j++;
        else if (c === quote) quote = "";
      } else if (c === '"' || c === "`") quote = c;
      else if (c === "}" && tpl[j + 1] === "}") break;
    }
    if (j >= tpl.length) fail(`unclosed action: ${JSON.stringify(tpl.slice(open, open + 40))}`);
    let body = tpl.slice(start, j);
    let next = j + 2;
    if (/\s-$/.test(body)) {
      body = body.slice(0, -1);
      const m = /^\s*/.exec(tpl.slice(next))!;
      next += m[0].length;
    }
    body = body.trim();
    if (!(body.startsWith("/*") && body.endsWith("*/"))) parts.push({ t: "action", v: body });
    i = next;
  }
  let k = 0;
  const defs = new Map<string, Node[]>();
  let ranges = 0; // how many {{range}} the parser is in: {{break}} and {{continue}} need one
  // {{template "name" PIPELINE}}, {{define "name"}}, {{block "name" PIPELINE}}: the name, and the pipeline's tokens
  const named = (word: string, a: string): { name: string; rest: Tok[] } => {
    const toks = lexAction(a.slice(word.length));
    const first = toks[0];
    if (first?.k !== "str") return fail(`{{${a}}}: ${word} needs a quoted template name`);
    return { name: first.v, rest: toks.slice(1) };
  };
  // {{if A}}..{{else if B}}..{{else}}..{{end}} is {{if A}}..{{else}}{{if B}}..{{else}}..{{end}}{{end}}
  // with one {{end}}: the nested block takes it.
  const control = (word: "if" | "with" | "range", pipeSrc: string, full: string): Node => {
    const pipe = parsePipeline(lexAction(pipeSrc), full);
    if (word === "range") ranges++;
    const then = block(["else", "end"]);
    if (word === "range") ranges--;
    let elseNodes: Node[] = [];
    if (then.stop === "else") {
      const chained = /^(if|with)\b/.exec(then.rest)?.[1] as "if" | "with" | undefined;
      if (chained && chained === word) elseNodes = [control(chained, then.rest.slice(chained.length), then.rest)];
      else if (then.rest) fail(`unexpected "${then.rest}" after else in {{${full}}}`);
      else {
        const e = block(["end"]);
        if (e.stop !== "end") fail(`missing {{end}} for {{${full}}}`);
        elseNodes = e.nodes;
      }
    } else if (then.stop !== "end") fail(`missing {{end}} for {{${full}}}`);
    return { t: word, pipe, then: then.nodes, else: elseNodes } as Node;
  };
  const block = (stops: string[]): { nodes: Node[]; stop: string; rest: string } => {
    const nodes: Node[] = [];
    while (k < parts.length) {
      const part = parts[k++]!;
      if (part.t === "text") {
        nodes.push(part);
        continue;
      }
      const a = part.v;
      const word = /^[a-z]+/.exec(a)?.[0] ?? "";
      if (stops.includes(word) && (word !== "else" || /^else\b/.test(a))) return { nodes, stop: word, rest: a.slice(word.length).trim() };
      if (word === "if" || word === "with" || word === "range") {
        nodes.push(control(word, a.slice(word.length), a));
        continue;
      }
      if (word === "end" || word === "else") fail(`unexpected {{${a}}}`);
      const keyword = ["define", "template", "block", "break", "continue"].includes(word) && lexAction(a)[0]?.k === "ident";
      if (keyword && (word === "break" || word === "continue")) {
        if (a !== word) fail(`unexpected "${a.slice(word.length).trim()}" in {{${word}}}`);
        if (!ranges) fail(`{{${word}}} outside {{range}}`);
        nodes.push({ t: word });
      } else if (keyword && word === "template") {
        const { name, rest } = named(word, a);
        nodes.push({ t: "template", name, pipe: rest.length ? parsePipeline(rest, a) : undefined });
      } else if (keyword) {
        // define (at the top only, as Go has it) and block: a body up to {{end}}
        if (word === "define" && stops.length) fail(`{{define}} inside another action: {{${a}}}`);
        const { name, rest } = named(word, a);
        if (word === "define" && rest.length) fail(`unexpected text after the template name in {{${a}}}`);
        const outer = ranges;
        ranges = 0; // a named template is a template of its own
        const body = block(["end"]);
        ranges = outer;
        if (body.stop !== "end") fail(`missing {{end}} for {{${a}}}`);
        // {{block}} defines the name where {{define}} has not (a define, before or after, wins)
        if (word === "define" || !defs.has(name)) defs.set(name, body.nodes);
        if (word === "block") nodes.push({ t: "template", name, pipe: rest.length ? parsePipeline(rest, a) : undefined });
      } else nodes.push({ t: "out", pipe: parsePipeline(lexAction(a), a) });
    }
    return { nodes, stop: "", rest: "" };
  };
  const nodes = block([]).nodes;
  return { nodes, defs };
}

// ------------------------------------------------------------------ values

/**
 * What Podman's data has as a time.Time: a template prints it as Go does
 * (String(): "2024-01-01 00:00:00 +0000 UTC"), json as RFC 3339.
 */
export class GoTime {
  constructor(readonly iso: string) {}
  toString(): string {
    return goTime(this.iso);
  }
  toJSON(): string {
    return this.iso;
  }
}

/** Go's %v of a value, as a template prints it. */
export function show(v: Value): string {
  if (v === undefined || v === null) return "<no value>";
  if (v instanceof GoTime) return v.toString();
  if (Array.isArray(v)) return `[${v.map(show).join(" ")}]`;
  if (typeof v === "object")
    return `map[${Object.keys(v as object)
      .sort()
      .map((k) => `${k}:${show((v as any)[k])}`)
      .join(" ")}]`;
  return String(v);
}

function truthy(v: Value): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v as object).length > 0;
  return true;
}

const fold = (k: string) => k.toLowerCase().replace(/_/g, "");

function field(obj: Value, name: string): Value {
  if (obj === null || obj === undefined) return undefined;
  if (typeof obj !== "object") fail(`can't evaluate field ${name} in type ${typeof obj}`);
  const o = obj as Record<string, Value>;
  if (name in o) return o[name];
  // Go's field names for what the data keeps under JSON's (CreatedBy: created_by),
  // and Podman's legacy spellings: matched without case or underscores.
  const keys = Object.keys(o);
  const k = keys.find((x) => fold(x) === fold(name));
  if (k !== undefined) return o[k];
  // A struct (every key a Go field name) has no such field: an error, as in Go.
  // A map (labels, annotations...) just lacks the key: <no value>, as in Go.
  if (keys.length && keys.every((x) => /^[A-Z]/.test(x))) fail(`can't evaluate field ${name}`);
  return undefined;
}

const walk = (v: Value, path: string[]) => path.reduce((cur, p) => field(cur, p), v);

/** Go's type name of a value as %T prints it (what the data's JSON decodes to in Go). */
function goType(v: Value): string {
  if (v === undefined || v === null) return "<nil>";
  if (typeof v === "number") return Number.isInteger(v) ? "int" : "float64";
  if (typeof v === "boolean") return "bool";
  if (typeof v === "string") return "string";
  if (v instanceof GoTime) return "time.Time";
  return Array.isArray(v) ? "[]interface {}" : "map[string]interface {}";
}

/** Go's fmt verbs as printf uses them: %s %v %d %q %x %X %f %t %T %%, with flags, width and precision. */
export function sprintf(format: string, args: Value[]): string {
  let n = 0;
  return format.replace(/%([-+ 0#]*)(\d+)?(?:\.(\d+))?([svdqxXftcT%])/g, (_m, flags: string, width?: string, prec?: string, verb?: string) => {
    if (verb === "%") return "%";
    if (n >= args.length) return `%!${verb}(MISSING)`;
    const a = args[n++];
    let s: string;
    switch (verb) {
      case "d":
        s = typeof a === "number" ? String(Math.trunc(a)) : `%!d(${typeof a}=${show(a)})`;
        if (flags.includes("+") && typeof a === "number" && a >= 0) s = `+${s}`;
        break;
      case "f":
        s = typeof a === "number" ? a.toFixed(prec === undefined ? 6 : Number(prec)) : `%!f(${show(a)})`;
        break;
      case "q":
        s = JSON.stringify(typeof a === "string" ? a : show(a));
        break;
      case "x":
      case "X":
        s = typeof a === "number" ? a.toString(16) : Buffer.from(show(a)).toString("hex");
        if (verb === "X") s = s.toUpperCase();
        break;
      case "c":
        s = typeof a === "number" ? String.fromCodePoint(a) : show(a);
        break;
      case "T":
        s = goType(a);
        break;
      default: // s, v, t
        s = show(a);
        if (prec !== undefined && verb !== "t") s = [...s].slice(0, Number(prec)).join("");
    }
    if (width !== undefined && [...s].length < Number(width)) {
      const fill = (flags.includes("0") && !flags.includes("-") && /[dfxX]/.test(verb!) ? "0" : " ").repeat(Number(width) - [...s].length);
      s = flags.includes("-") ? s + fill : fill + s;
    }
    return s;
  });
}

function cmp(a: Value, b: Value, name: string): number {
  if (typeof a === "number" && typeof b === "number") return a - b;
  if (typeof a === "string" && typeof b === "string") return a < b ? -1 : a > b ? 1 : 0;
  return fail(`${name}: incompatible types for comparison`);
}

const same = (a: Value, b: Value) => (a === null || a === undefined ? b === null || b === undefined : a === b);

const FUNCS: Record<string, (...a: Value[]) => Value> = {
  json: (v) => JSON.stringify(v ?? null),
  upper: (v) => str("upper", v).toUpperCase(),
  lower: (v) => str("lower", v).toLowerCase(),
  title: (v) => str("title", v).replace(/\b\w/g, (c) => c.toUpperCase()),
  join: (v, sep) => (Array.isArray(v) ? v : wrongType("join", "[]string", v)).map(show).join(str("join", sep)),
  index: (v, ...keys) =>
    keys.reduce((cur: any, k) => {
      if (cur === null || cur === undefined) return undefined;
      if (Array.isArray(cur) || typeof cur === "string") {
        if (typeof k !== "number" || k < 0 || k >= cur.length) fail(`error calling index: index out of range: ${show(k)}`);
        return cur[k as number];
      }
      return k as string in cur ? cur[k as string] : ""; // a map's missing key: its zero value
    }, v),
  len: (v) => {
    if (typeof v === "string" || Array.isArray(v)) return v.length;
    if (v && typeof v === "object") return Object.keys(v).length;
    return fail(`len of ${show(v)}`);
  },
  printf: (f, ...a) => sprintf(str("printf", f), a),
  // fmt.Sprint: a space between operands when neither is a string
  print: (...a) => a.map((x, i) => (i > 0 && typeof x !== "string" && typeof a[i - 1] !== "string" ? " " : "") + show(x)).join(""),
  println: (...a) => a.map(show).join(" ") + "\n",
  eq: (a, ...b) => {
    if (!b.length) fail("eq: missing argument for comparison");
    return b.some((x) => same(a, x));
  },
  ne: (a, b) => !same(a, b),
  lt: (a, b) => cmp(a, b, "lt") < 0,
  le: (a, b) => cmp(a, b, "le") <= 0,
  gt: (a, b) => cmp(a, b, "gt") > 0,
  ge: (a, b) => cmp(a, b, "ge") >= 0,
  not: (a) => !truthy(a),
  and: (...a) => a.find((x) => !truthy(x)) ?? a[a.length - 1],
  or: (...a) => a.find((x) => truthy(x)) ?? a[a.length - 1],
  // Podman's: the first N characters
  truncate: (s, n) => [...str("truncate", s)].slice(0, typeof n === "number" ? n : wrongType("truncate", "int", n)).join(""),
  slice: (v, ...ix) => {
    if (typeof v !== "string" && !Array.isArray(v)) return fail(`error calling slice: can't slice item of type ${typeof v}`);
    if (ix.length > (typeof v === "string" ? 2 : 3)) fail(`error calling slice: too many slice indexes: ${ix.length}`);
    const n = v.length; // (a 3-index slice's cap is the length here)
    const [i = 0, j = n, k = n] = ix.map((x) => (typeof x === "number" && Number.isInteger(x) ? x : fail(`error calling slice: cannot index slice/array with type ${typeof x}`)));
    if (i < 0 || j < i || k < j || k > n || j > n) fail(`error calling slice: index out of range: ${j > n || k > n ? Math.max(j, k) : i}`);
    return v.slice(i, j);
  },
  html: (...a) => printed(a).replace(/[<>&'"\0]/g, (c) => HTML_ESC[c]!),
  js: (...a) =>
    printed(a).replace(/[\\'"<>&=\x00-\x1f\u007f]/g, (c) => (c === "\\" || c === "'" || c === '"' ? `\\${c}` : `\\u${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`)),
  urlquery: (...a) => encodeURIComponent(printed(a)).replace(/%20/g, "+").replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`),
  // the data has no functions to call
  call: (f) => fail(`error calling call: call of ${f === undefined || f === null ? "nil" : `non-function ${show(f)}`}`),
};

/** An argument of the wrong type for a typed function: Go's error. */
function wrongType(fn: string, want: string, v: Value): never {
  return fail(`error calling ${fn}: wrong type for value; expected ${want}; got ${goType(v)}`);
}
/** A function's string argument, as Go's typed functions want it. */
function str(fn: string, v: Value): string {
  return typeof v === "string" ? v : wrongType(fn, "string", v);
}

const HTML_ESC: Record<string, string> = { "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;", "\0": "\uFFFD" };
/** The arguments as html, js and urlquery print them first: one alone as itself, several as fmt.Sprint does. */
function printed(a: Value[]): string {
  return a.length === 1 ? show(a[0]) : (FUNCS.print!(...a) as string);
}

// ------------------------------------------------------------------ evaluation

/** Variables: a block's own, then its enclosing blocks' ($x := declares here, $x = sets where declared). */
class Scope {
  private vars = new Map<string, Value>();
  constructor(private readonly parent?: Scope) {}
  private owner(name: string): Scope | undefined {
    for (let s: Scope | undefined = this; s; s = s.parent) if (s.vars.has(name)) return s;
    return undefined;
  }
  has(name: string): boolean {
    return this.owner(name) !== undefined;
  }
  get(name: string): Value {
    return this.owner(name)?.vars.get(name);
  }
  declare(name: string, v: Value): void {
    this.vars.set(name, v);
  }
  assign(name: string, v: Value): void {
    const o = this.owner(name) ?? fail(`undefined variable: ${name}`);
    (o as Scope).vars.set(name, v);
  }
}

function evalArg(a: Arg, dot: Value, vars: Scope, src: string): Value {
  switch (a.k) {
    case "field":
      return walk(dot, a.path);
    case "var": {
      if (!vars.has(a.name)) fail(`undefined variable: ${a.name}`);
      return walk(vars.get(a.name), a.path);
    }
    case "str":
    case "num":
    case "bool":
      return a.v;
    case "nil":
      return undefined;
    case "sub":
      return walk(evalPipeline(a.pipe, dot, vars, src), a.path);
    case "ident": {
      const f = FUNCS[a.v] ?? fail(`function "${a.v}" not defined`);
      return f!();
    }
    default:
      return fail(`unexpected ${a.k} in {{${src}}}`);
  }
}

/** Functions that take a fixed number of arguments, as Go checks them. */
const ARITY: Record<string, number> = { json: 1, upper: 1, lower: 1, title: 1, len: 1, not: 1, ne: 2, lt: 2, le: 2, gt: 2, ge: 2, truncate: 2, join: 2 };
/** Functions that want at least this many. */
const MIN_ARITY: Record<string, number> = { slice: 1, call: 1, printf: 1 };

function evalCmd(c: Cmd, dot: Value, vars: Scope, prev: Value[] | undefined, src: string): Value {
  const [head, ...rest] = c.args;
  if (head!.k === "ident") {
    const f = FUNCS[head!.v] ?? fail(`function "${head!.v}" not defined`);
    const want = ARITY[head!.v];
    const got = rest.length + (prev?.length ?? 0);
    if (want !== undefined && got !== want) fail(`wrong number of args for ${head!.v}: want ${want} got ${got}`);
    const least = MIN_ARITY[head!.v];
    if (least !== undefined && got < least) fail(`wrong number of args for ${head!.v}: want at least ${least} got ${got}`);
    const args = rest.map((x) => evalArg(x, dot, vars, src));
    return f!(...args, ...(prev ?? []));
  }
  if (rest.length || prev) fail(`can't give argument to non-function ${src}`);
  return evalArg(head!, dot, vars, src);
}

function evalPipeline(p: Pipeline, dot: Value, vars: Scope, src = ""): Value {
  let v: Value[] | undefined;
  for (const c of p.cmds) v = [evalCmd(c, dot, vars, v, src)];
  const out = v![0];
  if (p.decl?.length === 1) {
    if (p.assign) vars.assign(p.decl[0]!, out);
    else vars.declare(p.decl[0]!, out);
  }
  return out;
}

/** {{break}} and {{continue}}: thrown to the {{range}} they are in. */
class LoopJump {
  constructor(readonly kind: "break" | "continue") {}
}

/** What a run of a template needs besides its nodes: the named templates, how deep it is in them. */
interface Run {
  defs: Map<string, Node[]>;
  depth: number;
}

function exec(nodes: Node[], dot: Value, vars: Scope, out: string[], run: Run): void {
  for (const n of nodes) {
    switch (n.t) {
      case "break":
      case "continue":
        throw new LoopJump(n.t);
      case "template": {
        const body = run.defs.get(n.name) ?? fail(`no such template "${n.name}"`);
        if (run.depth >= 1000) fail(`exceeded maximum template depth (1000) in "${n.name}"`);
        const v = n.pipe ? evalPipeline(n.pipe, dot, vars) : undefined;
        const inner = new Scope(); // a template of its own: $ is what it was given
        inner.declare("$", v);
        exec(body, v, inner, out, { defs: run.defs, depth: run.depth + 1 });
        break;
      }
      case "text":
        out.push(n.v);
        break;
      case "out": {
        const v = evalPipeline(n.pipe, dot, vars);
        if (!n.pipe.decl) out.push(show(v));
        break;
      }
      case "if": {
        const inner = new Scope(vars); // {{if $x := ...}}: $x in both branches
        const v = evalPipeline(n.pipe, dot, inner);
        exec(truthy(v) ? n.then : n.else, dot, new Scope(inner), out, run);
        break;
      }
      case "with": {
        const inner = new Scope(vars);
        const v = evalPipeline(n.pipe, dot, inner);
        if (truthy(v)) exec(n.then, v, new Scope(inner), out, run);
        else exec(n.else, dot, new Scope(inner), out, run);
        break;
      }
      case "range": {
        const decl = n.pipe.decl;
        const v = evalPipeline({ cmds: n.pipe.cmds }, dot, vars);
        const entries: [Value, Value][] = Array.isArray(v)
          ? v.map((x, i) => [i, x])
          : v && typeof v === "object"
            ? Object.keys(v)
                .sort()
                .map((k) => [k, (v as any)[k]])
            : typeof v === "number"
              ? Array.from({ length: v }, (_, i) => [i, i])
              : v === undefined || v === null
                ? []
                : fail(`range can't iterate over ${show(v)}`);
        if (!entries.length) exec(n.else, dot, new Scope(vars), out, run);
        for (const [k, x] of entries) {
          const inner = new Scope(vars);
          if (decl?.length === 1) inner.declare(decl[0]!, x);
          if (decl?.length === 2) inner.declare(decl[0]!, k), inner.declare(decl[1]!, x);
          try {
            exec(n.then, x, inner, out, run);
          } catch (e) {
            if (!(e instanceof LoopJump)) throw e;
            if (e.kind === "break") break;
          }
        }
        break;
      }
    }
  }
}

const cache = new Map<string, Parsed>();

/** Render a template against data ($ is the data too). Errors are UsageErrors (exit 125). */
export function execute(tpl: string, data: Value): string {
  let parsed = cache.get(tpl);
  if (!parsed) {
    parsed = parse(tpl);
    cache.set(tpl, parsed);
  }
  const out: string[] = [];
  const root = new Scope();
  root.declare("$", data);
  exec(parsed.nodes, data, root, out, { defs: parsed.defs, depth: 0 });
  return out.join("");
}

/** Parse only: a template that cannot work is refused before any output. */
export function check(tpl: string): void {
  if (!cache.has(tpl)) cache.set(tpl, parse(tpl));
}
