// -it is a real terminal: driven through tmux as a person would.
import { describe, expect, test } from "bun:test";
import { binary, ENV, MODES, REGISTRY, sandboxes } from "../helpers/tspod.ts";
import { keepTmuxServer, q, screen, tmux, waitFor } from "../helpers/tmux.ts";

const BB = `${REGISTRY}/busybox:latest`;
const box = sandboxes();

/** At a shell's prompt in session s: Ctrl-C stops a foreground sleep, and the shell is still there. */
async function ctrlCStopsForeground(s: string): Promise<void> {
  tmux("send-keys", "-t", s, "sleep 30; echo after-sleep", "Enter");
  await Bun.sleep(300);
  tmux("send-keys", "-t", s, "C-c");
  await waitFor(s, /^\/ #\s*$/m, 3000);
  tmux("send-keys", "-t", s, "echo still-$((40+2))", "Enter");
  await waitFor(s, /^still-42$/m);
  expect(screen(s)).not.toMatch(/^after-sleep$/m);
}

keepTmuxServer("tty");

describe("login prompts under tmux (rootless)", () => {
  const b = box("rootless");

  test("user name, then password (not echoed), then Login Succeeded", async () => {
    const s = `tspod-login-${process.pid}`;
    const cmd = b.tspodArgs(["login", "--tls-verify=false", ENV.AUTH_REGISTRY]).map(q).join(" ");
    tmux("new-session", "-d", "-s", s, "-x", "100", "-y", "20", `sh -c ${q(`${cmd}; echo EXIT=$?; sleep 60`)}`);
    try {
      await waitFor(s, /Username:\s*$/m);
      tmux("send-keys", "-t", s, ENV.AUTH_USER, "Enter");
      await waitFor(s, /Password:\s*$/m);
      tmux("send-keys", "-t", s, ENV.AUTH_PASS, "Enter");
      const out = await waitFor(s, /EXIT=\d+/);
      expect(out).toContain("Login Succeeded!");
      expect(out).toContain("EXIT=0");
      expect(out).not.toContain(ENV.AUTH_PASS);
    } finally {
      tmux("kill-session", "-t", s);
      await b.run(["logout", ENV.AUTH_REGISTRY]);
    }
  });
});

describe("short-name-mode = enforcing under tmux (rootless)", () => {
  const b = box("rootless");

  test("the user picks a search registry; the choice is pulled and kept as an alias for the next pull", async () => {
    const { chownSync, mkdirSync, readFileSync, writeFileSync } = require("node:fs") as typeof import("node:fs");
    const dir = `${b.home}/.config/containers`;
    mkdirSync(dir, { recursive: true });
    for (const d of [`${b.home}/.config`, dir]) chownSync(d, b.uid, b.gid);
    writeFileSync(`${dir}/registries.conf`, `short-name-mode = "enforcing"\nunqualified-search-registries = ["127.0.0.1:5999", "${REGISTRY}"]\n\n[[registry]]\nlocation = "${REGISTRY}"\ninsecure = true\n`);
    chownSync(`${dir}/registries.conf`, b.uid, b.gid);
    const s = `tspod-shortname-${process.pid}`;
    const cmd = b.tspodArgs(["pull", "-q", "busybox"]).map(q).join(" ");
    tmux("new-session", "-d", "-s", s, "-x", "100", "-y", "20", `sh -c ${q(`${cmd}; echo EXIT=$?; sleep 60`)}`);
    try {
      const menu = await waitFor(s, /Select \[1-2\]:\s*$/m);
      expect(menu).toContain("1. 127.0.0.1:5999/busybox:latest");
      expect(menu).toContain(`2. ${REGISTRY}/busybox:latest`);
      tmux("send-keys", "-t", s, "2", "Enter");
      const out = await waitFor(s, /EXIT=\d+/, 60_000);
      expect(out).toContain("EXIT=0");
    } finally {
      tmux("kill-session", "-t", s);
    }
    expect(readFileSync(`${b.home}/.cache/containers/short-name-aliases.conf`, "utf8")).toBe(`[aliases]\n  "busybox" = "${REGISTRY}/busybox"\n`);
    // the alias now answers without a terminal
    await b.ok(["rmi", `${REGISTRY}/busybox:latest`]);
    expect((await b.ok(["pull", "-q", "busybox"])).trim()).toMatch(/^[0-9a-f]{64}$/);
    await b.ok(["rmi", `${REGISTRY}/busybox:latest`]);
  });
});

describe.each(MODES)("run -it under tmux (%s)", (mode) => {
  const b = box(mode);

  test("prompt, commands, window size and resize, Ctrl-C, exit restores the terminal", async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
    const s = `tspod-${mode}-${process.pid}`;
    const cmd = b.tspodArgs(["run", "-it", "--rm", BB, "sh"]).map(q).join(" ");
    // after tspod returns, report its exit code and the terminal's mode, then linger
    tmux("new-session", "-d", "-s", s, "-x", "100", "-y", "30", `sh -c ${q(`${cmd}; echo EXIT=$?; stty -a | tr ' ' '\\n' | grep -E '^-?(icanon|echo)$' | tr '\\n' ' '; echo; sleep 60`)}`);
    try {
      await waitFor(s, /^\/ #\s*$/m);
      tmux("send-keys", "-t", s, "echo hello-$((40+2))", "Enter");
      await waitFor(s, /^hello-42$/m);
      tmux("send-keys", "-t", s, "stty size", "Enter");
      await waitFor(s, /^30 100$/m);
      tmux("resize-window", "-t", s, "-x", "120", "-y", "40");
      await Bun.sleep(200);
      tmux("send-keys", "-t", s, "clear; stty size", "Enter");
      await waitFor(s, /^40 120$/m);
      // Ctrl-C reaches the container's foreground process, not tspod
      await ctrlCStopsForeground(s);
      tmux("send-keys", "-t", s, "exit 5", "Enter");
      const out = await waitFor(s, /EXIT=\d+\n.*echo/m);
      expect(out).toContain("EXIT=5");
      expect(out).toMatch(/(^| )icanon /m);
      expect(out).toMatch(/(^| )echo /m);
    } finally {
      tmux("kill-session", "-t", s);
    }
  });

  test("-it output reaches the terminal as the container wrote it (no second \\r), and the terminal is restored", async () => {
    const inner = [binary(), "--root", b.root, "--runroot", b.runroot, "run", "--rm", "-it", BB, "sh", "-c", 'stty -onlcr; printf "a\\nb\\n"'].map(q).join(" ");
    // script gives tspod a terminal; after it, the terminal's output processing is reported
    const p = Bun.spawn(b.wrap(["script", "-qc", `${inner}; stty -a | grep -o -- '-\\?opost'`, "/dev/null"]), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    expect(await p.exited).toBe(0);
    expect(out).toContain("a\nb\n"); // vi, less and top turn onlcr off and mean a bare line feed
    expect(out).not.toContain("a\r\nb");
    expect(out).toMatch(/(^|[^-])opost\r?\n/);
  });

  test("-t without -i: lines end \\r\\n as the container's terminal wrote them (not \\r\\r\\n), and output processing is back after", async () => {
    const inner = [binary(), "--root", b.root, "--runroot", b.runroot, "run", "--rm", "-t", BB, "sh", "-c", 'printf "a\\nb\\n"'].map(q).join(" ");
    const p = Bun.spawn(b.wrap(["script", "-qc", `${inner}; stty -a | grep -o -- '-\\?opost'`, "/dev/null"]), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const out = await new Response(p.stdout).text();
    expect(await p.exited).toBe(0);
    expect(out).toContain("a\r\nb\r\n");
    expect(out).not.toContain("\r\r\n");
    expect(out).toMatch(/(^|[^-])opost\r?\n/);
  });

  test("the terminal is the container's own /dev/pts/N, owned by the process's user (-u 1000 too, run and exec): it can open it again by name", async () => {
    // What -u 1000 needs of its terminal (screen, su, ssh, gpg's pinentry open
    // ttyname() again): a pty of the container's devpts, its uid, mode 0620.
    // stat -L of fd 0 (the terminal the process has) and of its name, then a
    // write through the name as that user.
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
    const probe = 'n=$(tty); stat -L -c "%u %a %t:%T" /proc/self/fd/0; stat -c "%u %a %t:%T" "$n" /dev/console; echo "$n"; echo through-name > "$n" && echo WROTE';
    const viaScript = async (args: string[]) => {
      const inner = [binary(), "--root", b.root, "--runroot", b.runroot, ...args].map(q).join(" ");
      const p = Bun.spawn(b.wrap(["script", "-qc", inner, "/dev/null"]), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
      // (script echoes a NUL as ^@ when its own stdin ends: Podman's output has it too)
      const out = (await new Response(p.stdout).text()).replace(/\r|\^@/g, "");
      expect(await p.exited).toBe(0);
      return out;
    };
    const check = (out: string, uid: number) => {
      const m = /^(\d+) (\d+) (\w+:\w+)\n(\d+) (\d+) (\w+:\w+)\n(\d+) (\d+) (\w+:\w+)\n(\/dev\/pts\/\d+)\n/m.exec(out);
      expect(m, out).not.toBeNull();
      const [, u0, mode0, dev0, u1, , dev1, , , devc, name] = m!;
      expect([Number(u0), Number(u1), mode0]).toEqual([uid, uid, "620"]);
      expect(dev1).toBe(dev0); // the name is the terminal the process has
      expect(devc).toBe(dev0); // and so is /dev/console (run)
      expect(name).toMatch(/^\/dev\/pts\/\d+$/);
      expect(out).toContain("through-name");
      expect(out).toContain("WROTE");
    };
    check(await viaScript(["run", "--rm", "-it", "-u", "1000", BB, "sh", "-c", probe]), 1000);
    check(await viaScript(["run", "--rm", "-it", BB, "sh", "-c", probe]), 0);
    await b.ok(["run", "-d", "--name", "ttyown", BB, "sleep", "60"]);
    try {
      // exec: its own pty in the container's devpts; /dev/console stays the container's
      const out = await viaScript(["exec", "-it", "-u", "1000", "ttyown", "sh", "-c", probe.replace(' "$n" /dev/console', ' "$n" "$n"')]);
      check(out, 1000);
    } finally {
      await b.ok(["rm", "-f", "-t", "0", "ttyown"]);
    }
  });

  test("--init: the process keeps the terminal as its controlling one, its own group in the foreground (job control, Ctrl-C), as with tini", async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
    // /proc/$$/stat fields 5-8: pgrp session tty_nr tpgid
    const inner = [binary(), "--root", b.root, "--runroot", b.runroot, "run", "--rm", "-it", "--init", BB, "sh", "-c", 'echo "stat $(cut -d" " -f5-8 /proc/$$/stat) pid $$"'].map(q).join(" ");
    const p = Bun.spawn(b.wrap(["script", "-qc", inner, "/dev/null"]), { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    const out = (await new Response(p.stdout).text()).replace(/\r|\^@/g, "");
    expect(await p.exited).toBe(0);
    const m = /^stat (\d+) (\d+) (\d+) (-?\d+) pid (\d+)$/m.exec(out);
    expect(m, out).not.toBeNull();
    const [pgrp, session, ttyNr, tpgid, pid] = m!.slice(1).map(Number);
    expect(pid).not.toBe(1); // the init is 1
    expect(ttyNr).not.toBe(0); // a controlling terminal
    expect([pgrp, tpgid]).toEqual([pid, pid]); // its own group, the terminal's foreground
    expect(session).toBe(1); // in the init's session
    // and a shell there: Ctrl-C stops the foreground command, not the shell
    const s = `tspod-init-${mode}-${process.pid}`;
    const cmd = b.tspodArgs(["run", "-it", "--rm", "--init", BB, "sh"]).map(q).join(" ");
    tmux("new-session", "-d", "-s", s, "-x", "100", "-y", "30", `sh -c ${q(`${cmd}; echo EXIT=$?; sleep 60`)}`);
    try {
      await waitFor(s, /^\/ #\s*$/m);
      await ctrlCStopsForeground(s);
      tmux("send-keys", "-t", s, "exit 3", "Enter");
      expect(await waitFor(s, /EXIT=\d+/)).toContain("EXIT=3");
    } finally {
      tmux("kill-session", "-t", s);
    }
  });

  test("detach with ctrl-p ctrl-q leaves the container running", async () => {
    const s = `tspod-detach-${mode}-${process.pid}`;
    const cmd = b.tspodArgs(["run", "-it", "--name", "det", BB, "sh"]).map(q).join(" ");
    tmux("new-session", "-d", "-s", s, "-x", "80", "-y", "24", `sh -c ${q(`${cmd}; echo EXIT=$?; sleep 60`)}`);
    try {
      await waitFor(s, /^\/ #\s*$/m);
      tmux("send-keys", "-t", s, "C-p", "C-q");
      await waitFor(s, /EXIT=0/);
      expect((await b.ok(["ps", "--format", "{{.Names}} {{.State}}"])).trim()).toBe("det running");
      await b.ok(["rm", "-f", "det"]);
    } finally {
      tmux("kill-session", "-t", s);
    }
  });
});
