// --change: Containerfile instructions applied to an image's config (commit; later build).
// What Docker and Podman take: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
// STOPSIGNAL, USER, VOLUME, WORKDIR, written "INSTRUCTION VALUE" (or
// "INSTRUCTION=VALUE"). Parsed before any work is done, so a bad one changes nothing.
import { posix } from "node:path";
import { UsageError } from "../errors.ts";

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

function setEnv(c: RunConfig, k: string, v: string): void {
  const env: string[] = (c.Env ?? []).filter((e: string) => e.slice(0, e.indexOf("=") < 0 ? e.length : e.indexOf("=")) !== k);
  env.push(`${k}=${v}`);
  c.Env = env;
}

/** One --change: what it does to a config, or a UsageError naming it. */
export function parseChange(change: string): ConfigChange {
  const m = /^\s*([A-Za-z]+)(?:\s+|=)([\s\S]*)$/.exec(change);
  const what = `invalid change "${change}"`;
  if (!m) throw new UsageError(`${what}: want INSTRUCTION VALUE`);
  const instr = m[1].toUpperCase();
  const value = m[2].trim();
  if (!INSTRUCTIONS.includes(instr)) throw new UsageError(`${what}: unknown instruction ${m[1]} (use ${INSTRUCTIONS.slice(0, -1).join(", ")} or WORKDIR)`);
  if (!value && instr !== "CMD" && instr !== "ENTRYPOINT") throw new UsageError(`${what}: ${instr} needs a value`);
  switch (instr) {
    case "CMD":
    case "ENTRYPOINT": {
      const argv = jsonArray(value, what) ?? (value ? ["/bin/sh", "-c", value] : []);
      const key = instr === "CMD" ? "Cmd" : "Entrypoint";
      return (c) => {
        if (argv.length) c[key] = argv;
        else delete c[key];
      };
    }
    case "ENV": {
      const kv = pairs(value, what);
      return (c) => kv.forEach(([k, v]) => setEnv(c, k, v));
    }
    case "LABEL": {
      const kv = pairs(value, what);
      return (c) => {
        c.Labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of kv) c.Labels[k] = v;
      };
    }
    case "EXPOSE": {
      const ports = splitWords(value, what).map((p) => {
        const pm = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(p);
        if (!pm || Number(pm[1]) < 1 || Number(pm[1]) > 65535 || (pm[2] && (Number(pm[2]) < Number(pm[1]) || Number(pm[2]) > 65535))) {
          throw new UsageError(`${what}: "${p}" is not a port (PORT[-PORT][/tcp|udp|sctp])`);
        }
        const proto = (pm[3] ?? "tcp").toLowerCase();
        const out: string[] = [];
        for (let n = Number(pm[1]); n <= Number(pm[2] ?? pm[1]); n++) out.push(`${n}/${proto}`);
        return out;
      });
      return (c) => {
        c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
        for (const p of ports.flat()) c.ExposedPorts[p] = {};
      };
    }
    case "ONBUILD":
      return (c) => {
        c.OnBuild = [...(c.OnBuild ?? []), value];
      };
    case "STOPSIGNAL":
      if (!/^(SIG)?[A-Z0-9+-]+$/i.test(value)) throw new UsageError(`${what}: "${value}" is not a signal`);
      return (c) => {
        c.StopSignal = value;
      };
    case "USER":
      return (c) => {
        c.User = value;
      };
    case "VOLUME": {
      const paths = jsonArray(value, what) ?? splitWords(value, what);
      for (const p of paths) if (!p.startsWith("/")) throw new UsageError(`${what}: volume "${p}" must be an absolute path`);
      return (c) => {
        c.Volumes = { ...(c.Volumes ?? {}) };
        for (const p of paths) c.Volumes[p] = {};
      };
    }
    default: {
      // WORKDIR: a relative path goes on from the one before
      return (c) => {
        c.WorkingDir = posix.resolve(c.WorkingDir || "/", value);
      };
    }
  }
}

export function parseChanges(changes: string[]): ConfigChange[] {
  return changes.map(parseChange);
}
