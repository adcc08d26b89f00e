// Sizes for people: in units of 1000 (kB, MB, ...) or, binary, 1024 (KiB, MiB,
// ...), as Go's go-units prints them: with that many significant digits
// ("1.46 MB", Podman's SIZE; "1.069MB", its stats), or that many decimals
// ("12.0 MB"; bytes as they are).
export function scaledSize(n: number, o: { digits?: number; fixed?: number; sep?: string; binary?: boolean } = {}): string {
  const u = o.binary ? ["B", "KiB", "MiB", "GiB", "TiB", "PiB"] : ["B", "kB", "MB", "GB", "TB", "PB"];
  const base = o.binary ? 1024 : 1000;
  let i = 0;
  while (n >= base && i < u.length - 1) {
    n /= base;
    i++;
  }
  const v = o.fixed !== undefined ? (i ? n.toFixed(o.fixed) : String(n)) : String(Number(n.toPrecision(o.digits ?? 3)));
  return `${v}${o.sep ?? ""}${u[i]}`;
}
