// The lean path: measured, oclif adds ~27 ms to every invocation here (import
// ~10 ms, config and plugin ~5 ms, dispatch and parse ~10 ms) while the goals
// for ps/images/run are 15-45 ms in all. Commands with a CommandImpl run
// straight from their flag definitions when the arguments parse cleanly;
// anything unusual (--help, an unknown flag, a bad value) goes to oclif,
// which also prints the help and the parse errors.
import { contextFromFlags, GLOBAL_FLAGS, type CommandImpl, type FlagDefs } from "./spec.ts";
import { exitWithError } from "./exit.ts";

const FAST: Record<string, () => Promise<{ default: CommandImpl }>> = {
  ps: () => import("./impl/ps.ts"),
  "container ls": () => import("./impl/ps.ts"),
  "container ps": () => import("./impl/ps.ts"),
  images: () => import("./impl/images.ts"),
  "image ls": () => import("./impl/images.ts"),
  run: () => import("./impl/run.ts"),
  "container run": () => import("./impl/run.ts"),
  rm: () => import("./impl/rm.ts"),
  "container rm": () => import("./impl/rm.ts"),
  "container cleanup": () => import("./impl/cleanup.ts"),
  pull: () => import("./impl/pull.ts"),
  info: () => import("./impl/info.ts"),
  "image pull": () => import("./impl/pull.ts"),
};

export interface Parsed {
  flags: Record<string, any>;
  positionals: string[];
}

/** Parse like oclif for the common forms; undefined means "let oclif handle it". */
export function parseFlags(argv: string[], defs: FlagDefs, stopAtPositional = false): Parsed | undefined {
  const flags: Record<string, any> = {};
  const positionals: string[] = [];
  const byChar = new Map<string, string>();
  const byName = new Map<string, string>();
  for (const [name, d] of Object.entries(defs)) {
    byName.set(name, name);
    if (d.char) byChar.set(d.char, name);
    for (const a of d.aliases ?? []) (a.length === 1 ? byChar : byName).set(a, name);
  }
  const set = (name: string, raw: string | boolean): boolean => {
    const d = defs[name];
    let v: any = raw;
    if (d.type === "integer") {
      if (typeof raw !== "string" || !/^-?\d+$/.test(raw)) return false;
      v = Number(raw);
    }
    if (d.options && !d.options.includes(String(v))) return false;
    if (d.multiple) (flags[name] ??= []).push(v);
    else flags[name] = v;
    return true;
  };
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      positionals.push(...argv.slice(i + 1));
      i = argv.length;
      break;
    }
    if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const key = a.slice(2, eq < 0 ? undefined : eq);
      if (key === "help") return undefined;
      let name = byName.get(key);
      if (!name && key.startsWith("no-") && defs[key.slice(3)]?.allowNo && eq < 0) {
        flags[key.slice(3)] = false;
        continue;
      }
      if (!name) return undefined;
      const d = defs[name];
      if (d.type === "boolean") {
        if (eq < 0) flags[name] = true;
        else {
          const v = a.slice(eq + 1);
          if (v !== "true" && v !== "false") return undefined;
          flags[name] = v === "true";
        }
        continue;
      }
      const value = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (value === undefined || !set(name, value)) return undefined;
      continue;
    }
    if (a.startsWith("-") && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const name = byChar.get(a[j]);
        if (!name) return undefined;
        if (defs[name].type === "boolean") {
          flags[name] = true;
          continue;
        }
        const value = j + 1 < a.length ? a.slice(j + 1) : argv[++i];
        if (value === undefined || !set(name, value)) return undefined;
        break;
      }
      continue;
    }
    positionals.push(a);
    if (stopAtPositional) {
      positionals.push(...argv.slice(i + 1));
      break;
    }
  }
  for (const [name, d] of Object.entries(defs)) if (flags[name] === undefined && d.default !== undefined) flags[name] = d.default;
  return { flags, positionals };
}

/** Runs argv through the lean path when it can; false means "use oclif". */
export async function tryFast(argv: string[]): Promise<boolean> {
  const key = argv.length > 1 && FAST[`${argv[0]} ${argv[1]}`] ? `${argv[0]} ${argv[1]}` : argv[0];
  const load = FAST[key];
  if (!load) return false;
  const impl = (await load()).default;
  const parsed = parseFlags(argv.slice(key.split(" ").length), { ...GLOBAL_FLAGS, ...impl.flags }, impl.stopAtPositional);
  if (!parsed) return false;
  const [min, max] = impl.positionals ?? [0, Infinity];
  if (parsed.positionals.length < min || parsed.positionals.length > max) return false;
  const f = parsed.flags;
  try {
    const ctx = contextFromFlags(f);
    const code = await impl.main(ctx, f, parsed.positionals);
    (await import("../context.ts")).trace("cli: done");
    if (code) process.exitCode = code;
  } catch (e) {
    exitWithError(e);
  }
  return true;
}
