// --change: Containerfile instructions applied to an image's config (commit; later build).
// What Docker and Podman take: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
// STOPSIGNAL, USER, VOLUME, WORKDIR, written "INSTRUCTION VALUE" (or
// "INSTRUCTION=VALUE"). Parsed before any work is done, so a bad one changes nothing.
import { posix } from "node:path";
import { UsageError } from "../errors.ts";
import { signalName } from "../container/lifecycle.ts";

/** The config's "config" object (Go's field names: Cmd, Env, ExposedPorts...). */
export type RunConfig = Record<string, any>;
export type ConfigChange = (c: RunConfig) => void;

const INSTRUCTIONS = ["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"];

/**
 * Words as a Containerfile line splits them: blanks separate, "..." and '...'
 * quote (the quotes go), a backslash escapes the next character outside
 * single quotes.
 */
export function splitWords(s: string, what: string): string[] {
  const out: string[] = [];
  let cur = "";
  let inWord = false;
  let quote = "";
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = "";
      else if (ch === "\\" && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
      continue;
    }
    if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === "\\" && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`${what}: unterminated quote`);
  if (inWord) out.push(cur);
  return out;
}

/** The name of an environment entry ("K=V" -> K). */
export const envKey = (e: string): string => (e.includes("=") ? e.slice(0, e.indexOf("=")) : e);

/** A variable of an environment list ("K=V"), or undefined. */
function envValue(env: string[] | undefined, k: string): string | undefined {
  const e = (env ?? []).find((x) => envKey(x) === k);
  return e === undefined ? undefined : e.includes("=") ? e.slice(e.indexOf("=") + 1) : "";
}

/**
 * $VAR, ${VAR}, ${VAR:-word} and ${VAR:+word} from the config's Env as it is
 * at that instruction, as a Containerfile expands them (ENV, LABEL, EXPOSE,
 * USER, VOLUME, WORKDIR, STOPSIGNAL); \$ is a dollar. Unset is empty.
 */
export function expandVars(s: string, env: string[] | undefined): string {
  return s.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (m, braced, op, word, plain) => {
    if (m === "\\$") return "$";
    const v = envValue(env, braced ?? plain);
    if (op === "-") return v ? v : word;
    if (op === "+") return v ? word : "";
    return v ?? "";
  });
}

/** KEY=VALUE pairs (ENV, LABEL), or the old form "KEY VALUE..." (one pair, the value the rest of the line). */
function pairs(value: string, what: string): [string, string][] {
  const first = value.trim().split(/\s+/, 1)[0] ?? "";
  if (!first.includes("=")) {
    const rest = value.trim().slice(first.length).trim();
    if (!first || !rest) throw new UsageError(`${what}: want KEY=VALUE`);
    return [[first, rest]];
  }
  return splitWords(value, what).map((w) => {
    const i = w.indexOf("=");
    if (i <= 0) throw new UsageError(`${what}: "${w}" is not KEY=VALUE`);
    return [w.slice(0, i), w.slice(i + 1)];
  });
}

/** CMD/ENTRYPOINT/VOLUME's JSON form when the value is a JSON array of strings, else undefined. */
function jsonArray(value: string, what: string): string[] | undefined {
  const v = value.trim();
  if (!v.startsWith("[")) return undefined;
  let a: unknown;
  try {
    a = JSON.parse(v);
  } catch {
    return undefined; // not JSON: the shell form, as Docker takes it
  }
  if (!Array.isArray(a) || a.some((x) => typeof x !== "string")) throw new UsageError(`${what}: a JSON array must hold strings only`);
  return a as string[];
}

/** K=V into the config's Env: in place of an earlier K, else at the end (as Docker's ENV). */
function setEnv(c: RunConfig, k: string, v: string): void {
  const env: string[] = [...(c.Env ?? [])];
  const i = env.findIndex((e) => envKey(e) === k);
  if (i >= 0) env[i] = `${k}=${v}`;
  else env.push(`${k}=${v}`);
  c.Env = env;
}

/**
 * One --change: what it does to a config, or a UsageError naming it. Variables
 * ($VAR, ${VAR}...) are expanded when it is applied, from the Env the config
 * has then; one without any is also tried on an empty config at once, so that
 * a bad value is refused before anything is done.
 */
export function parseChange(change: string): ConfigChange {
  const m = /^\s*([A-Za-z]+)(?:\s+|=)([\s\S]*)$/.exec(change);
  const what = `invalid change "${change}"`;
  if (!m) throw new UsageError(`${what}: want INSTRUCTION VALUE`);
  const instr = m[1].toUpperCase();
  const value = m[2].trim();
  if (!INSTRUCTIONS.includes(instr)) throw new UsageError(`${what}: unknown instruction ${m[1]} (use ${INSTRUCTIONS.slice(0, -1).join(", ")} or WORKDIR)`);
  if (!value && instr !== "CMD" && instr !== "ENTRYPOINT") throw new UsageError(`${what}: ${instr} needs a value`);
  const raw = instr === "CMD" || instr === "ENTRYPOINT" || instr === "ONBUILD"; // taken as written, as Docker does
  const f: ConfigChange = (c) => apply(instr, raw ? value : expandVars(value, c.Env), c, what);
  if (raw || !value.includes("$")) f({});
  return f;
}

function apply(instr: string, value: string, c: RunConfig, what: string): void {
  switch (instr) {
    case "CMD":
    case "ENTRYPOINT": {
      const argv = jsonArray(value, what) ?? (value ? ["/bin/sh", "-c", value] : []);
      const key = instr === "CMD" ? "Cmd" : "Entrypoint";
      if (argv.length) c[key] = argv;
      else delete c[key];
      return;
    }
    case "ENV":
      for (const [k, v] of pairs(value, what)) setEnv(c, k, v);
      return;
    case "LABEL":
      c.Labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of pairs(value, what)) c.Labels[k] = v;
      return;
    case "EXPOSE": {
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of splitWords(value, what)) {
        const pm = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
        if (!pm || Number(pm[1]) < 1 || Number(pm[1]) > 65535 || (pm[2] && (Number(pm[2]) < Number(pm[1]) || Number(pm[2]) > 65535))) {
          throw new UsageError(`${what}: "${p}" is not a port (PORT[-PORT][/tcp|udp|sctp])`);
        }
        const proto = (pm[3] ?? "tcp").toLowerCase();
        for (let n = Number(pm[1]); n <= Number(pm[2] ?? pm[1]); n++) c.ExposedPorts[`${n}/${proto}`] = {};
      }
      return;
    }
    case "ONBUILD": {
      const first = value.split(/\s+/, 1)[0]!.toUpperCase();
      if (["ONBUILD", "FROM", "MAINTAINER"].includes(first)) throw new UsageError(`${what}: ONBUILD cannot take ${first}`);
      c.OnBuild = [...(c.OnBuild ?? []), value];
      return;
    }
    case "STOPSIGNAL":
      try {
        c.StopSignal = signalName(value);
      } catch {
        throw new UsageError(`${what}: "${value}" is not a signal`);
      }
      return;
    case "USER":
      c.User = value;
      return;
    case "VOLUME": {
      const paths = jsonArray(value, what) ?? splitWords(value, what);
      if (!paths.length) throw new UsageError(`${what}: VOLUME needs a path`);
      for (const p of paths) if (!p.startsWith("/")) throw new UsageError(`${what}: volume "${p}" must be an absolute path`);
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const p of paths) c.Volumes[p] = {};
      return;
    }
    default:
      // WORKDIR: a relative path goes on from the one before
      c.WorkingDir = posix.resolve(c.WorkingDir || "/", value);
  }
}

export function parseChanges(changes: string[]): ConfigChange[] {
  return changes.map(parseChange);
}
