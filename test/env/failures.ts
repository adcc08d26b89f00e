// Prints the failed tests of a `bun test --reporter=junit` report, each with the
// head of its message and where it failed: the last lines of a test run are what
// a CI log keeps, and bun prints the messages far above its closing summary.
// Usage: bun test/env/failures.ts REPORT.xml [LINES]
import { readFileSync } from "node:fs";

const [file, linesArg] = process.argv.slice(2);
if (!file) {
  console.error("usage: bun test/env/failures.ts REPORT.xml [LINES]");
  process.exit(2);
}
const keep = Number(linesArg ?? 24);
const xml = readFileSync(file, "utf8");
const unescape = (s: string) =>
  s.replace(/&#(\d+);/g, (_, n) => String.fromCodePoint(Number(n)))
    .replace(/&#x([0-9a-f]+);/gi, (_, n) => String.fromCodePoint(parseInt(n, 16)))
    .replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const attr = (tag: string, name: string) => unescape(tag.match(new RegExp(`\\b${name}="([^"]*)"`))?.[1] ?? "");

let n = 0;
for (const m of xml.matchAll(/<testcase\b([^>]*?)(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
  const failure = m[2]?.match(/<(failure|error)\b[^>]*>([\s\S]*?)<\/\1>/);
  if (!failure) continue;
  n++;
  const suite = attr(m[1]!, "classname");
  const head = `${attr(m[1]!, "file")}:${attr(m[1]!, "line")} ${suite ? `${suite} > ` : ""}${attr(m[1]!, "name")}`;
  const body = unescape(failure[2]!).trimEnd().split("\n");
  const shown = body.length > keep ? [...body.slice(0, keep - 4), "  ...", ...body.slice(-3)] : body;
  console.log(`\n[failed ${n}] ${head}`);
  for (const l of shown) console.log(`  ${l}`);
}
console.log(n ? `\n[test] ${n} failed (details above)` : "[test] the report lists no failures");
