// The per-container monitor (`tspod-rt monitor`, native/monitor.c): daemonizing,
// start gate, k8s-file log, attach socket framing, tty, exec errors, exit.json,
// --exit-cmd and its memory use. Runs the native helper directly (no namespaces
// in these specs: a spec of only arg= records is a plain process).
// Build first: `bun run build --native` (or point TSPOD_RT at another build).
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join, resolve } from "node:path";

const TOP = resolve(import.meta.dir, "../..");
const RT = process.env.TSPOD_RT ?? join(TOP, "native/out/tspod-rt");
const tmp = mkdtempSync("/tmp/tspod-monitor-test-");
const monitors: number[] = [];
afterAll(() => {
  for (const p of monitors) {
    try {
      process.kill(p, "SIGKILL");
    } catch {}
  }
  rmSync(tmp, { recursive: true, force: true });
});

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until<T>(what: string, f: () => T | undefined | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function alive(pid: number): boolean {
  try {
    // a zombie is not alive
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

function procStatus(pid: number, key: string): string {
  const m = new RegExp(`^${key}:\\s+(.*)$`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? m[1].trim() : "";
}

/** Session id (field 6 of /proc/PID/stat). */
function sid(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
}

interface Ctr {
  dir: string;
  sock: string;
  log: string;
  args: string[];
}

let seq = 0;
function newCtr(argv: string[], opts: { tty?: boolean; stdin?: boolean; startNow?: boolean; exitCmd?: string[]; sock?: string; extra?: string[] } = {}): Ctr {
  const dir = join(tmp, `c${seq++}`);
  mkdirSync(dir);
  const records = argv.map((a) => `arg=${a}\0`).join("") + (opts.tty ? "tty=1\0" : "") + (opts.extra ?? []).map((r) => `${r}\0`).join("");
  writeFileSync(join(dir, "spec"), records);
  const sock = opts.sock ?? join(dir, "attach.sock");
  const log = join(dir, "ctr.log");
  const args = [RT, "monitor", "--spec", join(dir, "spec"), "--dir", dir, "--sock", sock, "--log", log];
  if (opts.tty) args.push("--tty");
  if (opts.stdin) args.push("--stdin");
  if (opts.startNow) args.push("--start-now");
  if (opts.exitCmd) args.push("--exit-cmd", ...opts.exitCmd);
  return { dir, sock, log, args };
}

function start(c: Ctr, extraArgs: string[] = []): { code: number; ready: any; ms: number } {
  const t0 = performance.now();
  const r = Bun.spawnSync([...c.args.slice(0, 2), ...extraArgs, ...c.args.slice(2)], { stdout: "pipe", stderr: "pipe" });
  const ms = performance.now() - t0;
  const out = r.stdout.toString();
  expect(out.endsWith("\n")).toBe(true);
  expect(out.trim().split("\n")).toHaveLength(1);
  const ready = JSON.parse(out);
  if (ready.monitor_pid) monitors.push(ready.monitor_pid);
  return { code: r.exitCode, ready, ms };
}

const exitJson = (c: Ctr) => until("exit.json", () => existsSync(join(c.dir, "exit.json")) && JSON.parse(readFileSync(join(c.dir, "exit.json"), "utf8")));
const logLines = (c: Ctr) =>
  readFileSync(c.log, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [ts, stream, flag] = l.split(" ", 3);
      return { ts, stream, flag, text: l.slice(ts.length + stream.length + flag.length + 3) };
    });

interface Frame {
  type: string;
  data: Buffer;
}

class Client {
  frames: Frame[] = [];
  closed = false;
  private buf = Buffer.alloc(0);
  private constructor(readonly sock: Socket) {
    sock.on("data", (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 5) {
        const len = this.buf.readUInt32BE(1);
        if (this.buf.length < 5 + len) break;
        this.frames.push({ type: String.fromCharCode(this.buf[0]), data: this.buf.subarray(5, 5 + len) });
        this.buf = this.buf.subarray(5 + len);
      }
    });
    sock.on("close", () => (this.closed = true));
    sock.on("error", () => (this.closed = true));
  }
  static open(path: string): Promise<Client> {
    return new Promise((res, rej) => {
      const s = connect(path);
      s.once("connect", () => res(new Client(s)));
      s.once("error", rej);
    });
  }
  send(type: string, payload: Buffer | string = Buffer.alloc(0)) {
    const p = typeof payload === "string" ? Buffer.from(payload) : payload;
    const h = Buffer.alloc(5);
    h[0] = type.charCodeAt(0);
    h.writeUInt32BE(p.length, 1);
    this.sock.write(Buffer.concat([h, p]));
  }
  text(type = "o"): string {
    return Buffer.concat(this.frames.filter((f) => f.type === type).map((f) => f.data)).toString();
  }
  exitCode(): number | undefined {
    const f = this.frames.find((f) => f.type === "x");
    return f ? f.data.readUInt32BE(0) : undefined;
  }
  waitExit(ms = 5000): Promise<number> {
    return until("exit frame", () => this.exitCode() !== undefined && [this.exitCode()!], ms).then((v) => v[0]);
  }
  close() {
    this.sock.destroy();
  }
}

describe("monitor", () => {
  test("--start-now: readiness, exit.json and a k8s-file log", async () => {
    const c = newCtr(["sh", "-c", "echo out; echo err >&2; exit 3"], { startNow: true });
    const { code, ready } = start(c);
    expect(code).toBe(0);
    expect(Object.keys(ready).sort()).toEqual(["monitor_pid", "pid", "started_at"]);
    expect(ready.pid).toBeGreaterThan(1);
    expect(ready.monitor_pid).toBeGreaterThan(1);
    expect(ready.started_at).toMatch(TS);
    // the same, in the monitor's own record of the run (a CLI killed before it wrote "running" leaves that)
    expect(JSON.parse(readFileSync(join(c.dir, "started.json"), "utf8"))).toEqual(ready);
    const ex = await exitJson(c);
    expect(ex.exitCode).toBe(3);
    expect(ex.signal).toBe(0);
    expect(ex.exitedAt).toMatch(TS);
    expect(ex.startError).toBeUndefined();
    const lines = logLines(c);
    expect(lines).toContainEqual(expect.objectContaining({ stream: "stdout", flag: "F", text: "out" }));
    expect(lines).toContainEqual(expect.objectContaining({ stream: "stderr", flag: "F", text: "err" }));
    for (const l of lines) {
      expect(l.ts).toMatch(TS);
      expect(Math.abs(Date.parse(l.ts) - Date.now())).toBeLessThan(60_000);
    }
    expect(readFileSync(join(c.dir, "monitor.pid"), "utf8").trim()).toBe(String(ready.monitor_pid));
    // the socket is private while it exists and removed when the monitor is done
    await until("monitor exit", () => !alive(ready.monitor_pid));
    expect(existsSync(c.sock)).toBe(false);
  });

  test("a killed process has 128+signal", async () => {
    const c = newCtr(["sh", "-c", "kill -9 $$"], { startNow: true });
    start(c);
    const ex = await exitJson(c);
    expect(ex.exitCode).toBe(137);
    expect(ex.signal).toBe(9);
  });

  test("daemonized: the invoker returns at once, the container lives on without it", async () => {
    const c = newCtr(["sleep", "2"], { startNow: true });
    const { code, ready, ms } = start(c);
    expect(code).toBe(0);
    expect(ms).toBeLessThan(1000);
    expect(alive(ready.pid)).toBe(true);
    expect(alive(ready.monitor_pid)).toBe(true);
    // the monitor is the container's parent, in its own session, and no child of ours
    expect(Number(procStatus(ready.pid, "PPid"))).toBe(ready.monitor_pid);
    expect(Number(procStatus(ready.monitor_pid, "PPid"))).not.toBe(process.pid);
    expect(sid(ready.monitor_pid)).not.toBe(sid(process.pid));
    expect(procStatus(ready.monitor_pid, "SigIgn")).toBe("0000000000000000");
    expect(statSync(c.sock).mode & 0o777).toBe(0o600);
    expect(existsSync(join(c.dir, "exit.json"))).toBe(false);
    const ex = await exitJson(c);
    expect(ex.exitCode).toBe(0);
  });

  test("SIGKILL of the invoker changes nothing", async () => {
    const c = newCtr(["sh", "-c", "sleep 1; echo survived"]);
    const inv = Bun.spawn(c.args, { stdout: "pipe", stderr: "pipe" });
    const mpid = await until("monitor.pid", () => existsSync(join(c.dir, "monitor.pid")) && Number(readFileSync(join(c.dir, "monitor.pid"), "utf8")));
    monitors.push(mpid);
    inv.kill("SIGKILL");
    await inv.exited;
    expect(Number(procStatus(mpid, "PPid"))).not.toBe(inv.pid);
    await until("socket", () => existsSync(c.sock));
    const cl = await Client.open(c.sock);
    cl.send("s");
    expect(await cl.waitExit()).toBe(0);
    expect(cl.text()).toBe("survived\n");
    expect((await exitJson(c)).exitCode).toBe(0);
  });

  test("attach before START: no output is lost, then 'x' with the code", async () => {
    const c = newCtr(["sh", "-c", "echo one; echo two >&2; echo three; exit 5"]);
    const { code, ready } = start(c);
    expect(code).toBe(0);
    await sleep(100);
    // held at the start gate
    expect(alive(ready.pid)).toBe(true);
    expect(readFileSync(c.log, "utf8")).toBe("");
    const a = await Client.open(c.sock);
    const b = await Client.open(c.sock);
    a.send("s");
    expect(await a.waitExit()).toBe(5);
    expect(await b.waitExit()).toBe(5);
    for (const cl of [a, b]) {
      expect(cl.text("o")).toBe("one\nthree\n");
      expect(cl.text("E")).toBe("two\n");
      expect(cl.frames.at(-1)!.type).toBe("x");
    }
    // a client that stays connected keeps the monitor ~1 s; one connecting then gets 'x' at once
    const late = await Client.open(c.sock);
    expect(await late.waitExit(500)).toBe(5);
    a.close();
    b.close();
    late.close();
    expect((await exitJson(c)).exitCode).toBe(5);
    await until("monitor exit", () => !alive(ready.monitor_pid), 3000);
  });

  test("the client that was to START goes away first (a killed CLI): the container starts anyway", async () => {
    const c = newCtr(["sh", "-c", "echo started; exit 4"]);
    const { ready } = start(c);
    const a = await Client.open(c.sock);
    await sleep(100);
    expect(readFileSync(c.log, "utf8")).toBe("");
    a.close(); // no START sent
    expect((await exitJson(c)).exitCode).toBe(4);
    expect(logLines(c).map((l) => l.text)).toEqual(["started"]);
    await until("monitor exit", () => !alive(ready.monitor_pid), 3000);
  });

  test("nobody ever connects to START: the container starts after a grace period", async () => {
    const c = newCtr(["sh", "-c", "exit 6"]);
    const t0 = Date.now();
    start(c);
    const exit = await until("exit.json", () => existsSync(join(c.dir, "exit.json")) && JSON.parse(readFileSync(join(c.dir, "exit.json"), "utf8")), 12_000);
    expect(exit.exitCode).toBe(6);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4500);
  }, 15_000);

  test("stdin: 'i' bytes reach the container, 'e' closes its stdin", async () => {
    const c = newCtr(["cat"], { stdin: true });
    start(c);
    const cl = await Client.open(c.sock);
    cl.send("s");
    cl.send("i", "hello\n");
    await until("echo", () => cl.text() === "hello\n");
    cl.send("i", "world");
    cl.send("e");
    expect(await cl.waitExit()).toBe(0);
    expect(cl.text()).toBe("hello\nworld");
    const lines = logLines(c);
    expect(lines.map((l) => `${l.flag} ${l.text}`)).toEqual(["F hello", "P world"]);
  });

  test("stdin stays open across detach, without --stdin the container gets /dev/null", async () => {
    const c = newCtr(["cat"], { stdin: true });
    start(c);
    const a = await Client.open(c.sock);
    a.send("s");
    a.send("i", "first\n");
    await until("first", () => a.text() === "first\n");
    a.send("d");
    await until("detached", () => a.closed);
    const b = await Client.open(c.sock);
    b.send("i", "second\n");
    b.send("e");
    expect(await b.waitExit()).toBe(0);
    expect(b.text()).toBe("second\n");

    const d = newCtr(["sh", "-c", "cat; echo done"]);
    start(d);
    const cl = await Client.open(d.sock);
    cl.send("s");
    cl.send("i", "ignored\n");
    expect(await cl.waitExit()).toBe(0);
    expect(cl.text()).toBe("done\n");
  });

  test("tty: resize before START, a /dev/pts terminal, everything on stdout", async () => {
    const c = newCtr(["sh", "-c", "stty size; tty; echo err >&2"], { tty: true });
    start(c);
    const cl = await Client.open(c.sock);
    cl.send("r", Buffer.from([0, 40, 0, 100]));
    cl.send("s");
    expect(await cl.waitExit()).toBe(0);
    const out = cl.text();
    expect(out).toContain("40 100");
    expect(out).toMatch(/\/dev\/pts\/\d+/);
    expect(out).toContain("err");
    expect(cl.text("E")).toBe("");
    const lines = logLines(c);
    expect(lines.every((l) => l.stream === "stdout")).toBe(true);
    expect(lines.map((l) => l.text).join("")).toContain("40 100");
  });

  test("tty with --stdin: an interactive shell", async () => {
    const c = newCtr(["sh"], { tty: true, stdin: true });
    start(c);
    const cl = await Client.open(c.sock);
    cl.send("r", Buffer.from([0, 24, 0, 80]));
    cl.send("s");
    cl.send("i", "echo $((6*7))\n");
    await until("answer", () => cl.text().includes("42"));
    cl.send("i", "exit 9\n");
    expect(await cl.waitExit()).toBe(9);
  });

  test("exec failure: 'X' frame, exit.json with 127 and startError", async () => {
    const c = newCtr(["/nonexistent"]);
    const { code } = start(c);
    expect(code).toBe(0);
    const cl = await Client.open(c.sock);
    cl.send("s");
    expect(await cl.waitExit()).toBe(127);
    const x = cl.frames.find((f) => f.type === "X");
    expect(x).toBeDefined();
    expect(x!.data.toString()).toMatch(/^2:.*nonexistent/);
    const ex = await exitJson(c);
    expect(ex.exitCode).toBe(127);
    expect(ex.startError).toContain("/nonexistent");
  });

  test("exec failure with --start-now: the invoker says so (stage exec); not executable is 126", async () => {
    const c = newCtr(["/nonexistent"], { startNow: true });
    const { code, ready } = start(c);
    expect(code).toBe(125);
    expect(ready.stage).toBe("exec");
    expect(ready.errno).toBe(2);
    expect(ready.error).toContain("/nonexistent");
    expect((await exitJson(c)).exitCode).toBe(127);

    const d = newCtr([join(tmp, "notexec")], { startNow: true });
    writeFileSync(join(tmp, "notexec"), "data\n", { mode: 0o644 });
    const r = start(d);
    expect(r.code).toBe(125);
    expect(r.ready.errno).toBe(13);
    const ex = await exitJson(d);
    expect(ex.exitCode).toBe(126);
    expect(ex.startError).toContain("notexec");
  });

  test("bad arguments and a bad spec: one JSON error line, 125", () => {
    const r = Bun.spawnSync([RT, "monitor", "--spec", "x"], { stdout: "pipe", stderr: "pipe" });
    expect(r.exitCode).toBe(125);
    expect(JSON.parse(r.stdout.toString()).stage).toBe("args");
    const c = newCtr([]);
    const s = start(c);
    expect(s.code).toBe(125);
    expect(s.ready.stage).toBe("spec");
    expect(s.ready.error.length).toBeGreaterThan(0);
  });

  test("--exit-cmd runs after exit.json is written", async () => {
    const c = newCtr(["sh", "-c", "exit 4"], { startNow: true });
    c.args.push("--exit-cmd", "/bin/sh", "-c", `cat ${c.dir}/exit.json > ${c.dir}/cleaned`);
    const { ready } = start(c);
    await until("cleaned", () => existsSync(join(c.dir, "cleaned")) && readFileSync(join(c.dir, "cleaned"), "utf8"));
    expect(JSON.parse(readFileSync(join(c.dir, "cleaned"), "utf8")).exitCode).toBe(4);
    await until("monitor exit", () => !alive(ready.monitor_pid));
  });

  // run --rm: the CLI renames the container's directory to the trash (lifecycle.ts
  // discard) before it hangs up; the monitor then deletes the trash itself instead
  // of starting the exit command (a whole tspod process), and falls back to it when
  // it cannot delete everything.
  async function trashRun(opts: { rename: boolean; prepare?: (dir: string) => void }) {
    const c = newCtr(["sh", "-c", "exit 3"]);
    const trash = join(tmp, `trash-${seq}`);
    const marker = join(tmp, `exit-cmd-ran-${seq}`);
    c.args.push("--trash", trash, "--exit-cmd", "/bin/sh", "-c", `touch ${marker}`);
    const { ready } = start(c);
    const a = await Client.open(c.sock);
    a.send("s");
    expect(await a.waitExit()).toBe(3);
    // what overlayfs leaves in a container directory: work/work with mode 000
    mkdirSync(join(c.dir, "work/work"), { recursive: true });
    writeFileSync(join(c.dir, "work/work/f"), "x");
    chmodSync(join(c.dir, "work/work"), 0);
    opts.prepare?.(c.dir);
    if (opts.rename) renameSync(c.dir, trash);
    a.close();
    await until("monitor exit", () => !alive(ready.monitor_pid), 3000);
    return { dir: c.dir, trash, marker };
  }

  test("--trash: a directory renamed to the trash before the client hangs up is deleted by the monitor, no exit command", async () => {
    const r = await trashRun({ rename: true });
    expect(existsSync(r.trash)).toBe(false);
    expect(existsSync(r.dir)).toBe(false);
    expect(existsSync(r.marker)).toBe(false);
  });

  test("--trash: the directory still in place (no --rm, or the CLI died): the exit command runs", async () => {
    const r = await trashRun({ rename: false });
    await until("exit command", () => existsSync(r.marker));
    expect(existsSync(r.dir)).toBe(true);
    chmodSync(join(r.dir, "work/work"), 0o700);
  });

  test.if(process.getuid?.() === 0)("--trash: what the monitor cannot delete (a mount inside) is left to the exit command", async () => {
    let mnt = "";
    const r = await trashRun({
      rename: true,
      prepare: (dir) => {
        mnt = join(dir, "mnt");
        mkdirSync(mnt);
        expect(Bun.spawnSync(["mount", "-t", "tmpfs", "tspod-test", mnt]).exitCode).toBe(0);
      },
    });
    try {
      await until("exit command", () => existsSync(r.marker));
      // nothing under the mount was touched, and the trash is still there for the exit command
      expect(existsSync(join(r.trash, "mnt"))).toBe(true);
    } finally {
      Bun.spawnSync(["umount", join(r.trash, "mnt")]);
    }
  });

  test("partial lines: P records, nothing lost at exit; long lines split at 16 KiB", async () => {
    const c = newCtr(["sh", "-c", "printf abc; sleep 0.2; echo def; printf tail"], { startNow: true });
    start(c);
    await exitJson(c);
    expect(logLines(c).map((l) => `${l.flag} ${l.text}`)).toEqual(["P abc", "F def", "P tail"]);

    const d = newCtr(["sh", "-c", "head -c 40000 /dev/zero | tr '\\0' a; echo; echo short"], { startNow: true });
    start(d);
    await exitJson(d);
    const lines = logLines(d);
    expect(lines.at(-1)).toEqual(expect.objectContaining({ flag: "F", text: "short" }));
    const long = lines.slice(0, -1);
    expect(long.at(-1)!.flag).toBe("F");
    expect(long.slice(0, -1).every((l) => l.flag === "P")).toBe(true);
    expect(long.every((l) => l.text.length <= 16384)).toBe(true);
    expect(long.map((l) => l.text).join("")).toBe("a".repeat(40000));
  });

  test("a client that does not read is dropped; a reading client gets every byte", async () => {
    const total = 3_000_000;
    const c = newCtr(["sh", "-c", `head -c ${total} /dev/zero | tr '\\0' x`]);
    start(c, ["--stall-ms", "300"]);
    const stuck = await Client.open(c.sock);
    stuck.sock.pause();
    const reader = await Client.open(c.sock);
    reader.send("s");
    expect(await reader.waitExit(15000)).toBe(0);
    expect(reader.text().length).toBe(total);
    expect(stuck.exitCode()).toBeUndefined();
    expect(logLines(c).reduce((n, l) => n + l.text.length, 0)).toBe(total);
    expect(readFileSync(join(c.dir, "monitor.log"), "utf8")).toContain("dropped");
    reader.close();
    stuck.close();
  }, 20000);

  test("socket paths longer than sun_path", async () => {
    let deep = tmp;
    while (deep.length < 130) deep = join(deep, "d".repeat(40));
    mkdirSync(deep, { recursive: true });
    const c = newCtr(["echo", "long"], { sock: join(deep, "attach.sock") });
    const { code } = start(c);
    expect(code).toBe(0);
    expect(c.sock.length).toBeGreaterThan(107);
    expect(existsSync(c.sock)).toBe(true);
    // a client connects the same way: through /proc/self/fd/N of the directory
    const dfd = openSync(deep, "r");
    try {
      const cl = await Client.open(`/proc/self/fd/${dfd}/attach.sock`);
      cl.send("s");
      expect(await cl.waitExit()).toBe(0);
      expect(cl.text()).toBe("long\n");
    } finally {
      closeSync(dfd);
    }
  });

  test("RSS of a running monitor is at most 1 MB", async () => {
    const c = newCtr(["sleep", "5"], { startNow: true });
    const { ready } = start(c);
    const cl = await Client.open(c.sock);
    cl.send("r", Buffer.from([0, 24, 0, 80]));
    await sleep(200);
    const rss = Number(procStatus(ready.monitor_pid, "VmRSS").split(" ")[0]);
    console.log(`monitor VmRSS: ${rss} kB`);
    expect(rss).toBeGreaterThan(0);
    expect(rss).toBeLessThanOrEqual(1024);
    cl.close();
    process.kill(ready.pid, "SIGTERM");
    expect((await exitJson(c)).exitCode).toBe(143);
  });
});
