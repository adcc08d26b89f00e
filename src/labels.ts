// Labels as the CLI takes them (--label KEY=VALUE) and as filters match them (label=KEY[=VALUE]).
import { UsageError } from "./errors.ts";

/** --label values (KEY=VALUE; KEY alone: an empty value) over base; a value without a key is refused. */
export function parseLabels(list: string[], base: Record<string, string> = {}): Record<string, string> {
  const out = { ...base };
  for (const l of list) {
    const i = l.indexOf("=");
    if (i === 0 || l === "") throw new UsageError(`invalid label "${l}": a label needs a name (KEY=VALUE)`);
    out[i < 0 ? l : l.slice(0, i)] = i < 0 ? "" : l.slice(i + 1);
  }
  return out;
}

/** A label filter's value: KEY (the label is there) or KEY=VALUE (with that value). */
export function hasLabel(labels: Record<string, string>, spec: string): boolean {
  const j = spec.indexOf("=");
  return j < 0 ? spec in labels : labels[spec.slice(0, j)] === spec.slice(j + 1);
}
