// Human-readable times and sizes as Podman prints them; no heavy imports (ps uses these).
import { scaledSize } from "../units.ts";
import { UsageError } from "../errors.ts";

/** Go's units.HumanDuration + " ago", as Podman prints CREATED (its integer arithmetic, its rounding). */
export function since(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return "";
  const ms = Math.max(0, now - t);
  const seconds = Math.floor(ms / 1000);
  const minutes = Math.floor(ms / 60_000);
  const hours = Math.round(ms / 3_600_000); // d.Round(time.Hour).Hours()
  let out: string;
  if (seconds < 1) out = "Less than a second";
  else if (seconds === 1) out = "1 second";
  else if (seconds < 60) out = `${seconds} seconds`;
  else if (minutes === 1) out = "About a minute";
  else if (minutes < 60) out = `${minutes} minutes`;
  else if (hours === 1) out = "About an hour";
  else if (hours < 48) out = `${hours} hours`;
  else if (hours < 24 * 7 * 2) out = `${Math.floor(hours / 24)} days`;
  else if (hours < 24 * 30 * 2) out = `${Math.floor(hours / 24 / 7)} weeks`;
  else if (hours < 24 * 365 * 2) out = `${Math.floor(hours / 24 / 30)} months`;
  else out = `${Math.floor(Math.floor(ms / 3_600_000) / 24 / 365)} years`;
  return `${out} ago`;
}

/** Decimal sizes with 3 significant digits, as Podman prints SIZE ("1.46 MB"). */
export function humanSize(n: number): string {
  return scaledSize(n, { digits: 3, sep: " " });
}

/** name -> [repository, tag] for display. */
export function splitName(n: string): [string, string] {
  const i = n.lastIndexOf(":");
  if (i < 0 || n.slice(i).includes("/")) return [n, "<none>"];
  return [n.slice(0, i), n.slice(i + 1)];
}

/**
 * A time as Go's time.Time prints it, in UTC: "2024-01-01 00:00:00 +0000 UTC",
 * and with the fraction of a second the ISO string has, up to nanoseconds,
 * trailing zeros dropped ("... 13:13:31.948098509 +0000 UTC"), as Podman shows
 * {{.Created}} or {{.State.StartedAt}}.
 */
export function goTime(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$/i.exec(iso);
  const t = new Date(m ? `${m[1]}${m[3]}` : iso); // (the fraction kept as written: Date has milliseconds only)
  if (!Number.isFinite(t.getTime())) return "";
  const frac = (m?.[2] ?? "").slice(0, 9).replace(/0+$/, "");
  return `${t.toISOString().slice(0, 19).replace("T", " ")}${frac ? `.${frac}` : ""} +0000 UTC`;
}

/**
 * A time given as Podman takes it (--since, --until, filters): a duration back
 * from now (10m, 1.5h, 30s, 250ms), Unix seconds, or a timestamp. Milliseconds.
 */
export function parseTime(s: string, what: string, now = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(s);
  if (m) return now - Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as "s"];
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  if (!Number.isFinite(t)) throw new UsageError(`invalid ${what} "${s}": use a duration (10m) or a timestamp`);
  return t;
}
