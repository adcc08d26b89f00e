// Human-readable times and sizes as Podman prints them; no heavy imports (ps uses these).

/** Go's units.HumanDuration + " ago", as Podman prints CREATED. */
export function since(iso: string, now = Date.now()): string {
  const t = Date.parse(iso);
  if (!Number.isFinite(t)) return "";
  const s = Math.max(0, (now - t) / 1000);
  const m = s / 60, h = m / 60, d = h / 24;
  let out: string;
  if (s < 1) out = "Less than a second";
  else if (s < 60) out = `${Math.floor(s)} seconds`;
  else if (Math.round(m) === 1) out = "About a minute";
  else if (m < 60) out = `${Math.round(m)} minutes`;
  else if (Math.round(h) === 1) out = "About an hour";
  else if (h < 48) out = `${Math.round(h)} hours`;
  else if (h < 24 * 7 * 2) out = `${Math.round(d)} days`;
  else if (h < 24 * 30 * 2) out = `${Math.round(d / 7)} weeks`;
  else if (h < 24 * 365 * 2) out = `${Math.round(d / 30)} months`;
  else out = `${Math.round(d / 365)} years`;
  return `${out} ago`;
}

/** Decimal sizes with 3 significant digits, as Podman prints SIZE ("1.46 MB"). */
export function humanSize(n: number): string {
  const u = ["B", "kB", "MB", "GB", "TB", "PB"];
  let i = 0;
  while (n >= 1000 && i < u.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(3))} ${u[i]}`;
}

/** name -> [repository, tag] for display. */
export function splitName(n: string): [string, string] {
  const i = n.lastIndexOf(":");
  if (i < 0 || n.slice(i).includes("/")) return [n, "<none>"];
  return [n.slice(0, i), n.slice(i + 1)];
}
