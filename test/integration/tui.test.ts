// The live terminal views (ink): stats and ps --watch, driven through tmux as a
// person would, on real containers; what the keys do is checked with tspod's
// plain commands. Root and rootless.
import { describe, expect, test } from "bun:test";
import { cleanEach, MODES, REGISTRY, sandboxes, type Sandbox } from "../helpers/tspod.ts";
import { keepTmuxServer, q, screen, tmux, waitFor } from "../helpers/tmux.ts";

const BB = `${REGISTRY}/busybox:latest`;
const box = sandboxes();
keepTmuxServer("tui");

/** tspod ARGS in a new tmux session (a terminal both ways, colours on); afterwards EXIT=code and the terminal's modes. */
function open(b: Sandbox, name: string, args: string[]): string {
  const s = `tspod-tui-${name}-${b.mode}-${process.pid}`;
  const cmd = b.tspodArgs(args, { env: { TERM: "xterm-256color" } }).map(q).join(" ");
  tmux("new-session", "-d", "-s", s, "-x", "140", "-y", "24", `sh -c ${q(`${cmd}; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' '; echo; sleep 60`)}`);
  return s;
}

/** The row of the table that names a container. */
const rowOf = (text: string, name: string) => text.split("\n").find((l) => new RegExp(`\\s${name}(\\s|$)`).test(l)) ?? "";

/** After q (or key): exit 0, and the terminal is back in its cooked mode. */
async function quits(s: string, key = "q"): Promise<void> {
  tmux("send-keys", "-t", s, key);
  const out = await waitFor(s, /EXIT=\d+\n.*echo/m);
  expect(out).toContain("EXIT=0");
  // (tmux drops a line's trailing blanks)
  expect(out).toMatch(/(^| )icanon( |$)/m);
  expect(out).toMatch(/(^| )echo( |$)/m);
}

describe.each(MODES)("live views under tmux (%s)", (mode) => {
  const b = box(mode);
  cleanEach(b);

  test("stats: every running container, busiest first, live; ←→ change the sort; a named one that stops ends the view", async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
    await b.ok(["run", "-d", "--name", "spin", BB, "sh", "-c", "while :; do :; done"]);
    await b.ok(["run", "-d", "--name", "nap", BB, "sleep", "300"]);
    const s = open(b, "stats", ["stats", "-i", "1"]);
    try {
      // the busy loop takes a core's worth: first, and its CPU % well above the sleeper's
      const shown = await waitFor(s, /^› .*spin[\s\S]*nap/m);
      expect(shown).toMatch(/tspod stats · 2 containers · by CPU % ▼ · every 1s/);
      expect(shown).toMatch(/CPU % ▼/);
      const cpu = (name: string) => parseFloat(/(\d+\.\d\d)%/.exec(rowOf(screen(s), name))?.[1] ?? "NaN");
      expect(cpu("spin")).toBeGreaterThan(20);
      expect(cpu("nap")).toBeLessThan(5);
      // the next column: memory, largest first
      tmux("send-keys", "-t", s, "Right");
      await waitFor(s, /by MEM USAGE \/ LIMIT ▼/); // the title says it too (a narrow terminal may not show the column)
      // it is live: the clock in the title moves
      const t1 = /every 1s · (\S+)/.exec(screen(s))?.[1];
      await Bun.sleep(2200);
      expect(/every 1s · (\S+)/.exec(screen(s))?.[1]).not.toBe(t1);
      // Esc quits as q does (ink reports a lone Esc as a Meta key too)
      await quits(s, "Escape");
    } finally {
      tmux("kill-session", "-t", s);
    }
    // named: once it is gone, the view ends by itself
    const n = open(b, "stats-named", ["stats", "-i", "1", "nap"]);
    try {
      await waitFor(n, /^› .*nap/m);
      expect(rowOf(screen(n), "spin")).toBe("");
      await b.ok(["rm", "-f", "-t", "0", "nap"]);
      expect(await waitFor(n, /EXIT=\d+/)).toContain("EXIT=0");
    } finally {
      tmux("kill-session", "-t", n);
    }
  });

  test("ps --watch: the containers; Enter shows one's logs, followed; Esc, then s stops it, d and y remove it, K and y kill one, a shows stopped ones", async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
    await b.ok(["run", "-d", "--name", "talker", BB, "sh", "-c", "trap 'exit 3' TERM; i=0; while :; do i=$((i+1)); echo line-$i; sleep 0.2; done"]);
    await b.ok(["run", "-d", "--name", "quiet", BB, "sleep", "300"]);
    await b.ok(["run", "--name", "done", BB, "true"]);
    const s = open(b, "ps", ["ps", "--watch", "1"]);
    try {
      // newest first: quiet, then talker; the exited one only with a
      let t = await waitFor(s, /^› .*quiet[\s\S]*talker/m);
      expect(t).toMatch(/running containers/);
      expect(rowOf(t, "done")).toBe("");
      tmux("send-keys", "-t", s, "Down");
      await waitFor(s, /^› .*talker/m);
      // its logs, followed: later lines keep coming
      tmux("send-keys", "-t", s, "Enter");
      t = await waitFor(s, /logs of talker · following/);
      const last = () => Math.max(...[...screen(s).matchAll(/line-(\d+)/g)].map((m) => Number(m[1])));
      await waitFor(s, /line-\d+/);
      const before = last();
      await Bun.sleep(1200);
      expect(last()).toBeGreaterThan(before + 2);
      tmux("send-keys", "-t", s, "Escape");
      await waitFor(s, /^› .*talker/m);
      // s stops the selected one (its trap exits 3)
      tmux("send-keys", "-t", s, "s");
      await waitFor(s, /^stopped talker$/m);
      expect((await b.ok(["ps", "-a", "--filter", "name=talker", "--format", "{{.State}} {{.ExitCode}}"])).trim()).toBe("exited 3");
      // a: the stopped ones too (the selection went to the row that took talker's place)
      tmux("send-keys", "-t", s, "a");
      t = await waitFor(s, /all containers[\s\S]*\sdone(\s|$)/m);
      expect(rowOf(t, "done")).toMatch(/Exited \(0\)/);
      // G: the last row (the oldest)
      tmux("send-keys", "-t", s, "G");
      // d asks; n keeps it; d, y removes it
      await waitFor(s, /^› .*talker/m);
      tmux("send-keys", "-t", s, "d");
      await waitFor(s, /^remove talker\? y\/n$/m);
      tmux("send-keys", "-t", s, "n");
      await waitFor(s, /^\(not done\)$/m);
      expect((await b.ok(["ps", "-aq", "--filter", "name=talker"])).trim()).not.toBe("");
      tmux("send-keys", "-t", s, "d");
      await waitFor(s, /^remove talker\? y\/n$/m);
      tmux("send-keys", "-t", s, "y");
      await waitFor(s, /^removed talker$/m);
      expect((await b.ok(["ps", "-aq", "--filter", "name=talker"])).trim()).toBe("");
      // K asks too; a Ctrl chord runs nothing (Ctrl-K is not K)
      await waitFor(s, /^› .*quiet/m);
      tmux("send-keys", "-t", s, "C-k");
      await Bun.sleep(400);
      expect(screen(s)).not.toMatch(/kill quiet/);
      tmux("send-keys", "-t", s, "K");
      await waitFor(s, /^kill quiet\? y\/n$/m);
      tmux("send-keys", "-t", s, "y");
      await waitFor(s, /^killed quiet$/m);
      expect((await b.ok(["ps", "-a", "--filter", "name=quiet", "--format", "{{.State}}"])).trim()).toBe("exited");
      await quits(s);
    } finally {
      tmux("kill-session", "-t", s);
    }
  });

  test("ps --watch in 80 columns and 12 lines: names and status shown (long columns narrowed), keys typed at once each count, the scrollback is kept, CI=true still draws, Ctrl-C exits 130", async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
    for (const n of ["c1", "c2", "c3"]) await b.ok(["run", "-d", "--name", n, BB, "sh", "-c", "sleep 300 # a long command line that would push the names off the screen"]);
    const s = `tspod-tui-narrow-${b.mode}-${process.pid}`;
    const cmd = b.tspodArgs(["ps", "--watch", "1"], { env: { TERM: "xterm-256color", CI: "true" } }).map(q).join(" ");
    tmux("new-session", "-d", "-s", s, "-x", "80", "-y", "12", `sh -c ${q(`echo MARK-BEFORE; ${cmd}; echo EXIT=$?; sleep 60`)}`);
    try {
      let t = await waitFor(s, /^› .*c3/m);
      expect(t).toMatch(/STATUS\s+PORTS\s+NAMES/);
      expect(t).toMatch(/^› .*\sUp .*\sc3$/m);
      expect(t).toMatch(/^› [0-9a-f]{8}\S*\s/m); // the ID keeps 8 characters at least
      expect(t.split("\n").every((l) => [...l].length <= 80)).toBe(true);
      // two Downs in one write: two rows down (c3, c2, c1: newest first); "kk" as one string: two up
      tmux("send-keys", "-t", s, "Down", "Down");
      await waitFor(s, /^› .*c1$/m);
      tmux("send-keys", "-t", s, "-l", "kk");
      await waitFor(s, /^› .*c3$/m);
      // several refreshes later the line printed before the view is still in the scrollback
      await Bun.sleep(2500);
      expect(tmux("capture-pane", "-p", "-S", "-100", "-t", s)).toContain("MARK-BEFORE");
      // Ctrl-C: an interrupt's code, as in a shell
      tmux("send-keys", "-t", s, "C-c");
      await waitFor(s, /^EXIT=130$/m);
    } finally {
      tmux("kill-session", "-t", s);
    }
  });

  test("Ctrl-Z stops the view and gives the terminal back; fg brings it back in raw mode", async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
    await b.ok(["run", "-d", "--name", "z1", BB, "sleep", "300"]);
    const s = `tspod-tui-tstp-${b.mode}-${process.pid}`;
    tmux("new-session", "-d", "-s", s, "-x", "120", "-y", "20", "bash --norc --noprofile -i");
    try {
      await Bun.sleep(300);
      tmux("send-keys", "-t", s, b.tspodArgs(["ps", "--watch", "1"], { env: { TERM: "xterm-256color" } }).map(q).join(" "), "Enter");
      await waitFor(s, /^› .*z1/m);
      tmux("send-keys", "-t", s, "C-z");
      await waitFor(s, /Stopped/);
      tmux("send-keys", "-t", s, "stty -a | tr ' ' '\\n' | grep -x -- '-*icanon'", "Enter");
      await waitFor(s, /^icanon$/m); // cooked mode while it is stopped
      tmux("send-keys", "-t", s, "clear; fg", "Enter");
      await waitFor(s, /^› .*z1/m);
      tmux("send-keys", "-t", s, "q"); // a key, not a line: raw mode again
      await Bun.sleep(500);
      tmux("send-keys", "-t", s, "echo FG=$?", "Enter");
      await waitFor(s, /^FG=0$/m);
    } finally {
      tmux("kill-session", "-t", s);
    }
  });

  test("ps --watch without a terminal: the table again every N seconds, until its reader goes; 0, -q; bad uses refused", async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
    await b.ok(["run", "-d", "--name", "w1", BB, "sleep", "300"]);
    const p = Bun.spawn(b.tspodArgs(["ps", "--watch", "1"]), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    await Bun.sleep(2600);
    p.kill();
    const out = await new Response(p.stdout).text();
    const heads = out.split("\n").filter((l) => l.startsWith("CONTAINER ID"));
    expect(heads.length).toBeGreaterThanOrEqual(2);
    expect(out.split("\n").filter((l) => /\sw1$/.test(l)).length).toBe(heads.length);
    expect(out).not.toContain("\x1b"); // plain text, no terminal codes
    // the reader goes away: so does ps --watch
    const head = Bun.spawn(["sh", "-c", `${b.tspodArgs(["ps", "--watch", "1"]).map(q).join(" ")} | head -1; echo done`], { stdout: "pipe", stderr: "pipe" });
    const timer = setTimeout(() => head.kill(), 8000);
    expect(await new Response(head.stdout).text()).toMatch(/^CONTAINER ID.*\ndone\n$/);
    clearTimeout(timer);
    // as Podman: 0 is no watch; -q and --format are watched too; not with --latest
    expect(await b.ok(["ps", "--watch", "0"])).toMatch(/^CONTAINER ID[\s\S]*\sw1\n$/);
    const qp = Bun.spawn(b.tspodArgs(["ps", "-w", "1", "-q"]), { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
    await Bun.sleep(1600);
    qp.kill();
    expect((await new Response(qp.stdout).text()).split("\n").filter((l) => /^[0-9a-f]{12}$/.test(l)).length).toBeGreaterThanOrEqual(2);
    for (const bad of [["--watch", "-1"], ["--watch", "1", "--latest"]]) {
      const r = await b.run(["ps", ...bad]);
      expect(r.code).toBe(125);
      expect(r.stderr).toMatch(/^Error: .*--watch/);
    }
  });
});
