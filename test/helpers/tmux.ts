// Terminal tests driven through tmux, as a person would type.
import { afterAll, beforeAll } from "bun:test";

export function tmux(...args: string[]): string {
  const r = Bun.spawnSync(["tmux", ...args], { stdout: "pipe", stderr: "pipe" });
  return r.stdout.toString();
}

export const screen = (s: string) => tmux("capture-pane", "-p", "-t", s);

/** The pane's text once it matches re (or an error with what it showed last). */
export async function waitFor(s: string, re: RegExp, ms = 10_000): Promise<string> {
  const end = Date.now() + ms;
  let last = "";
  while (Date.now() < end) {
    last = screen(s);
    if (re.test(last)) return last;
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${re} in:\n${last}`);
}

/** A shell word. */
export const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

/**
 * One session lives for the whole file: killing a test's session then never
 * makes the tmux server exit, which a next new-session could race (seen once in
 * CI: the next test's pane stayed empty).
 */
export function keepTmuxServer(name: string): void {
  const keeper = `tspod-${name}-keeper-${process.pid}`;
  beforeAll(() => void tmux("new-session", "-d", "-s", keeper, "sleep 3600"));
  afterAll(() => void tmux("kill-session", "-t", keeper));
}
