// Flags shared by several commands.
import { Flags } from "@oclif/core";
import { UsageError } from "../errors.ts";

/** --tls-verify / --tls-verify=false; undefined means "as registries.conf says". */
export const tlsVerifyFlag = Flags.boolean({
  description: "require HTTPS and verify certificates (--tls-verify=false allows plain HTTP)",
  allowNo: true,
});

/**
 * Boolean flags written Go-style, as Podman takes them (`--tls-verify=false`,
 * `--rm=true`, `-q=true`): rewritten to oclif's `--x` / `--no-x` before parsing,
 * for every boolean flag of the command (FLAGS: its flags and base flags).
 * `=false` on a flag without a --no- form is the flag left out. Flags end at
 * the first positional for commands that stop there (run IMAGE CMD...: the
 * command's own arguments are not touched), and at `--` for all.
 * Any other `=value` is refused, as Go's flag package does.
 */
export function goStyleBooleans(argv: string[], start: number, flags: Record<string, any>, stopAtPositional: boolean): string[] {
  const { booleans, takesValue } = flagSpellings(flags);
  const out = argv.slice(0, start);
  for (let i = start; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") return [...out, ...argv.slice(i)];
    const eq = a.indexOf("=");
    const m = a.startsWith("-") && eq > 1 ? booleans.get(a.slice(0, eq)) : undefined;
    if (m) {
      // Go's strconv.ParseBool spellings
      const v = a.slice(eq + 1);
      const on = ["1", "t", "T", "true", "TRUE", "True"].includes(v);
      if (!on && !["0", "f", "F", "false", "FALSE", "False"].includes(v)) {
        throw new UsageError(`invalid argument "${v}" for "${a.slice(0, eq)}" flag: strconv.ParseBool: parsing "${v}": invalid syntax`);
      }
      if (on) out.push(`--${m.name}`);
      else if (m.allowNo) out.push(`--no-${m.name}`);
      continue;
    }
    out.push(a);
    if (!a.startsWith("-") || a === "-") {
      if (stopAtPositional) return [...out, ...argv.slice(i + 1)];
      continue;
    }
    if (takesNextWord(a, takesValue) && i + 1 < argv.length) out.push(argv[++i]);
  }
  return out;
}

/** The spellings of a command's flags (--name, -c, aliases): the boolean ones, and those that take a value. */
export function flagSpellings(flags: Record<string, any>): { booleans: Map<string, { name: string; allowNo: boolean }>; takesValue: Set<string> } {
  const booleans = new Map<string, { name: string; allowNo: boolean }>();
  const takesValue = new Set<string>();
  for (const [name, f] of Object.entries<any>(flags)) {
    const spellings = [`--${name}`, ...(f.char ? [`-${f.char}`] : []), ...(f.aliases ?? []).map((a: string) => (a.length === 1 ? `-${a}` : `--${a}`))];
    for (const sp of spellings) {
      if (f.type === "boolean") booleans.set(sp, { name, allowNo: !!f.allowNo });
      else takesValue.add(sp);
    }
  }
  return { booleans, takesValue };
}

/**
 * A flag word (starting with -, not --) whose value is the next word: --env, -e, or
 * -ite (a value-taking char last); -eFOO=bar and --env=X carry theirs.
 */
export function takesNextWord(a: string, takesValue: Set<string>): boolean {
  if (a.startsWith("--")) return !a.includes("=") && takesValue.has(a);
  for (let j = 1; j < a.length; j++) if (takesValue.has(`-${a[j]}`)) return j === a.length - 1;
  return false;
}
