// Containers: run, exit codes, what the inside looks like, the monitor, logs,
// exec, concurrency. Root and rootless, real images from the local registry.
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, chmodSync, chownSync, readdirSync, readlinkSync, statSync, writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { binary, cleanEach, ENV, errorLines, expectOneError, MODES, REGISTRY, sandboxes, tempDir } from "../helpers/tspod.ts";

const box = sandboxes();

const BB = `${REGISTRY}/busybox:latest`;
const ML = `${REGISTRY}/multilayer:latest`;

describe.each(MODES)("run (%s)", (mode) => {
  const b = box(mode);
  cleanEach(b);
  beforeAll(async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
    await b.ok(["pull", "-q", "--tls-verify=false", ML]);
  });

  test("a relative --root and --runroot are taken from the working directory (made absolute, as Podman)", async () => {
    const dir = tempDir("tspod-relroot-");
    chownSync(dir, b.uid, b.gid);
    const run = async (args: string[]) => {
      const p = Bun.spawn(b.wrap([binary(), "--root", "rel-root", "--runroot", "rel-run", ...args]), { cwd: dir, stdout: "pipe", stderr: "pipe" });
      return { out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text(), code: await p.exited };
    };
    try {
      expect(await run(["pull", "-q", "--tls-verify=false", BB])).toEqual({ out: expect.stringMatching(/^[0-9a-f]{64}\n$/), err: "", code: 0 });
      expect(await run(["run", "--rm", BB, "echo", "hi"])).toEqual({ out: "hi\n", err: "", code: 0 });
      expect(await run(["run", "--rm", "--network", "none", BB, "echo", "hi"])).toEqual({ out: "hi\n", err: "", code: 0 });
      expect(await run(["ps", "-aq"])).toEqual({ out: "", err: "", code: 0 });
      const upper = JSON.parse((await run(["image", "inspect", BB])).out)[0].GraphDriver.Data.UpperDir;
      expect(upper.startsWith(`${dir}/rel-root/`)).toBe(true);
    } finally {
      await run(["rmi", "-f", BB]);
      Bun.spawnSync(["rm", "-rf", dir]);
    }
  });

  test("echo, exit codes, missing and non-executable commands", async () => {
    expect(await b.ok(["run", "--rm", BB, "echo", "hi"])).toBe("hi\n");
    let r = await b.run(["run", "--rm", BB, "sh", "-c", "exit 7"]);
    expect(r.code).toBe(7);
    r = await b.run(["run", "--rm", BB, "no-such-command"]);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/^Error: .*no-such-command.*(not found|No such file)/m);
    r = await b.run(["run", "--rm", BB, "/etc/passwd"]);
    expect(r.code).toBe(126);
    if (mode === "rootless") {
      // a user the id map has no place for: the process cannot be set up, 126 as Podman's
      // "OCI runtime error" (was 125), foreground, -d and -it alike, and recorded so
      const n = Number(ENV.SUBID_COUNT) + 1000;
      for (const args of [["--rm"], ["--rm", "-d"], ["--rm", "-it"]]) {
        r = await b.run(["run", ...args, "-u", String(n), BB, "true"]);
        expect([r.code, errorLines(r)]).toEqual([126, [`Error: setuid ${n}: Invalid argument`]]);
      }
      await b.run(["run", "-d", "--name", "baduser", "-u", String(n), BB, "true"]);
      expect(await b.ok(["ps", "-a", "--format", "{{.Names}} {{.ExitCode}}"])).toBe("baduser 126\n");
      await b.ok(["rm", "baduser"]);
    }
    // flags after the image belong to the command
    expect(await b.ok(["run", "--rm", BB, "ls", "-d", "/etc"])).toBe("/etc\n");
    expect((await b.ps()).length).toBe(0);
    // -d: a command that cannot run leaves the container, exited with its code, as the foreground does
    r = await b.run(["run", "-d", "--name", "keep127", BB, "no-such-command"]);
    expect(r.code).toBe(127);
    expect(await b.ok(["ps", "-a", "--format", "{{.Names}} {{.ExitCode}} {{.State}}"])).toBe("keep127 127 exited\n");
    // start of it again: the same one line, but 125 (as Podman's start; run says 127). Again
    // and again: the monitor of one start, ending, must not remove the next one's attach socket.
    for (const args of [1, 2, 3, 4].flatMap(() => [["start", "keep127"], ["start", "-a", "keep127"]])) {
      r = await b.run(args);
      expect([args, r.code, r.stderr]).toEqual([args, 125, "Error: exec no-such-command: No such file or directory\n"]);
    }
    await b.ok(["rm", "keep127"]);
    // an --entrypoint that is not a JSON array of strings is one word, as with Podman
    r = await b.run(["run", "--rm", "--entrypoint", "[not json", BB]);
    expect([r.code, r.stderr]).toEqual([127, "Error: exec [not json: No such file or directory\n"]);
    expect(await b.ok(["run", "--rm", "--entrypoint", '["echo","a b"]', BB])).toBe("a b\n");
  });

  test("run --rm leaves no files: the monitor deletes what the CLI discarded, subordinate-id files too", async () => {
    await b.ok(["run", "--rm", BB, "true"]);
    // a file of uid 33 in /tmp (sticky): rootless, only the user namespace may delete it
    await b.ok(["run", "--rm", "-u", "33", BB, "touch", "/tmp/by-33"]);
    const tmpDir = join(b.root, "tmp");
    const deadline = Date.now() + 10_000;
    while (readdirSync(tmpDir).length && Date.now() < deadline) await Bun.sleep(50);
    expect(readdirSync(tmpDir)).toEqual([]);
    expect(readdirSync(join(b.root, "containers"))).toEqual([]);
  });

  test("a container records the image name it was given (one image, several names), as Podman", async () => {
    const other = `localhost/other-name-${mode}:1`;
    await b.ok(["tag", BB, other]);
    try {
      for (const [given, recorded] of [[other, other], ["other-name-" + mode + ":1", other], [BB, BB]]) {
        const id = (await b.ok(["create", given, "true"])).trim();
        expect(await b.ok(["ps", "-a", "--filter", `id=${id}`, "--format", "{{.Image}}"])).toBe(`${recorded}\n`);
        expect(JSON.parse(await b.ok(["inspect", id]))[0].ImageName).toBe(recorded);
        expect(await b.ok(["run", "--rm", given, "sh", "-c", "grep ^image= /run/.containerenv"])).toBe(`image="${recorded}"\n`);
        await b.ok(["rm", id]);
      }
    } finally {
      await b.run(["untag", BB, other]);
    }
  });

  test("containers/ is marked as the top of hierarchies (each container's directory in a block group of its own on ext4)", async () => {
    await b.ok(["run", "--rm", "--network", "none", BB, "true"]);
    // lsattr (e2fsprogs) reads the flag independently; filesystems without inode flags: nothing to check
    if (Bun.spawnSync(["lsattr", "-d", b.dir], { stderr: "pipe" }).exitCode !== 0) return;
    expect(Bun.spawnSync(["lsattr", "-d", join(b.root, "containers")]).stdout.toString().split(" ")[0]).toContain("T");
  });

  test("a layer unpacked with another id map (the user's subuid range changed) is unpacked again: by run from the blob, by pull", async () => {
    const diffID: string = JSON.parse(await b.ok(["image", "inspect", BB]))[0].RootFS.Layers[0];
    const dir = join(b.root, "layers", diffID.slice(7));
    const rec = () => JSON.parse(readFileSync(join(dir, "layer.json"), "utf8"));
    const current = rec().idmap;
    const makeStale = () => {
      writeFileSync(join(dir, "layer.json"), JSON.stringify({ ...rec(), idmap: "0:4242:1" }));
      writeFileSync(join(dir, "diff", "stale-marker"), "old");
    };
    // run: unpacked again from the stored blob (no registry involved), then used
    makeStale();
    expect(await b.ok(["run", "--rm", "--pull", "never", BB, "sh", "-c", "ls /stale-marker 2>&1; stat -c %u /bin/busybox"])).toMatch(/No such file[\s\S]*\n0\n$/);
    expect(rec().idmap).toBe(current);
    expect(existsSync(join(dir, "diff", "stale-marker"))).toBe(false);
    // the blob gone as well: run says to pull; pull fetches and replaces the layer
    makeStale();
    // the layer's blob: the one big blob (config and manifest are small)
    const blob = readdirSync(join(b.root, "blobs/sha256")).find((n) => statSync(join(b.root, "blobs/sha256", n)).size > 100_000)!;
    expect(blob).toMatch(/^[0-9a-f]{64}$/);
    const saved = readFileSync(join(b.root, "blobs/sha256", blob));
    require("node:fs").rmSync(join(b.root, "blobs/sha256", blob));
    const r = await b.run(["run", "--rm", "--pull", "never", BB, "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/must be unpacked again and its blob is gone: pull the image again/);
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
    expect(rec().idmap).toBe(current);
    expect(existsSync(join(dir, "diff", "stale-marker"))).toBe(false);
    expect(readFileSync(join(b.root, "blobs/sha256", blob))).toEqual(saved);
    const deadline = Date.now() + 5000;
    while (readdirSync(join(b.root, "tmp")).length && Date.now() < deadline) await Bun.sleep(50);
    expect(readdirSync(join(b.root, "tmp"))).toEqual([]);
  });

  test("rootless, containers share the kept user namespace (as Podman's share its pause process's); killed, the next start makes another", async () => {
    const a = (await b.ok(["run", "-d", "--name", "shared-a", BB, "sleep", "60"])).trim();
    const c = (await b.ok(["run", "-d", "--name", "shared-c", "--network", "none", BB, "sleep", "60"])).trim();
    const pidOf = async (n: string) => Number((await b.ok(["inspect", "-f", "{{.State.Pid}}", n])).trim());
    const ns = (pid: number) => readlinkSync(`/proc/${pid}/ns/user`);
    const keeperFile = join(b.runroot, "userns.pid");
    try {
      if (mode === "root") {
        expect(ns(await pidOf(a))).toBe(readlinkSync("/proc/self/ns/user")); // no user namespace as root
        expect(existsSync(keeperFile)).toBe(false);
        return;
      }
      const keeper = Number(readFileSync(keeperFile, "utf8"));
      expect(ns(await pidOf(a))).toBe(ns(keeper));
      expect(ns(await pidOf(c))).toBe(ns(keeper));
      expect(ns(keeper)).not.toBe(readlinkSync("/proc/self/ns/user"));
      // its map is the subuid map: files the container makes are owned as always
      expect((await b.ok(["exec", "shared-a", "sh", "-c", "touch /tmp/x; chown 33 /tmp/x; stat -c %u /tmp/x"])).trim()).toBe("33");
      process.kill(keeper, "SIGKILL");
      await b.ok(["rm", "-f", "-t", "0", "shared-c"]);
      const d = (await b.ok(["run", "-d", "--name", "shared-c", BB, "sleep", "60"])).trim();
      const next = Number(readFileSync(keeperFile, "utf8"));
      expect(next).not.toBe(keeper);
      expect(ns(await pidOf(d))).toBe(ns(next));
      expect((await b.ok(["exec", "shared-c", "id", "-u"])).trim()).toBe("0");
    } finally {
      await b.run(["rm", "-f", "-t", "0", "shared-a", "shared-c"]);
    }
  });

  test("the kernel's keyrings are out of reach (add_key, keyctl, request_key: ENOSYS, as Podman's seccomp profile): in run, exec, with published ports", async () => {
    // a static program the image lacks: each call and what it got
    const dir = tempDir("tspod-keys-");
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "k.c"), `#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
  if (argc > 1) { /* find: the key the host added, from this process's session keyring */
    long k = syscall(SYS_keyctl, 10 /* KEYCTL_SEARCH */, -3 /* session */, "user", "tspod-test", 0);
    printf("find: %s\\n", k < 0 ? strerror(errno) : "ok");
    return 0;
  }
  long r = syscall(SYS_add_key, "user", "tspod-test", "secret", 6, -4);
  printf("add_key: %s\\n", r < 0 ? strerror(errno) : "ok");
  r = syscall(SYS_keyctl, 0, -4, 0);
  printf("keyctl: %s\\n", r < 0 ? strerror(errno) : "ok");
  r = syscall(SYS_request_key, "user", "tspod-test", 0, 0);
  printf("request_key: %s\\n", r < 0 ? strerror(errno) : "ok");
  return 0;
}
`);
    const cc = Bun.which("musl-gcc") ? ["musl-gcc", "-static"] : ["gcc", "-static"];
    const built = Bun.spawnSync([...cc, "-O2", "-o", join(dir, "k"), join(dir, "k.c")], { stderr: "pipe" });
    if (built.exitCode !== 0) throw new Error(`cannot build the test program: ${built.stderr}`);
    chmodSync(join(dir, "k"), 0o755);
    const host = Bun.spawnSync([join(dir, "k")]).stdout.toString();
    expect(host).toBe("add_key: ok\nkeyctl: ok\nrequest_key: ok\n"); // the calls work here: the container's answer is the filter's
    const blocked = "add_key: Function not implemented\nkeyctl: Function not implemented\nrequest_key: Function not implemented\n";
    expect(await b.ok(["run", "--rm", "-v", `${dir}:/b:ro`, BB, "/b/k"])).toBe(blocked);
    expect(await b.ok(["run", "--rm", "-u", "33", "-v", `${dir}:/b:ro`, BB, "/b/k"])).toBe(blocked);
    // --security-opt seccomp=unconfined takes the filter away, as Podman's does its profile
    // (the network's too: Seccomp 0 under the default network, a published port still served);
    // the calls work, but the session keyring is the container's own (as crun makes one): a key
    // in the user keyring is not found from it, as it is on the host
    expect(await b.ok(["run", "--rm", "--security-opt", "seccomp=unconfined", "-v", `${dir}:/b:ro`, BB, "/b/k"])).toBe("add_key: ok\nkeyctl: ok\nrequest_key: Required key not available\n");
    expect((await b.ok(["run", "--rm", "--security-opt", "seccomp=unconfined", BB, "grep", "^Seccomp:", "/proc/self/status"])).trim()).toBe("Seccomp:\t0");
    // ... and each container has a session keyring of its own, as under crun: not the
    // one it was started from, where root's user keyring (and the key added above) is
    expect(Bun.spawnSync([join(dir, "k"), "find"]).stdout.toString()).toBe("find: ok\n");
    expect(await b.ok(["run", "--rm", "--security-opt", "seccomp=unconfined", "-v", `${dir}:/b:ro`, BB, "/b/k", "find"])).toBe("find: Required key not available\n");
    await b.ok(["run", "-d", "--name", "unconf", "--security-opt", "seccomp=unconfined", "-p", "127.0.0.1::80", "-v", `${dir}:/b:ro`, BB, "sh", "-c", "echo served > /tmp/i; httpd -f -p 80 -h /tmp"]);
    try {
      expect(await b.ok(["exec", "unconf", "/b/k", "find"])).toBe("find: Required key not available\n");
      expect((await b.ok(["exec", "unconf", "grep", "^Seccomp:", "/proc/self/status"])).trim()).toBe("Seccomp:\t0");
      const port = (await b.ok(["port", "unconf", "80"])).trim().split(":").pop();
      let body = "";
      for (let i = 0; i < 50 && body !== "served\n"; i++) {
        body = await fetch(`http://127.0.0.1:${port}/i`).then((r) => r.text(), () => "");
        if (body !== "served\n") await Bun.sleep(100);
      }
      expect(body).toBe("served\n");
    } finally {
      await b.run(["rm", "-f", "-t", "0", "unconf"]);
    }
    await b.ok(["run", "-d", "--name", "keys", "-p", "127.0.0.1::80", "-v", `${dir}:/b:ro`, BB, "sleep", "60"]);
    try {
      expect(await b.ok(["exec", "keys", "/b/k"])).toBe(blocked);
      expect(await b.ok(["exec", "keys", "sh", "-c", "/b/k; echo done"])).toBe(blocked + "done\n");
    } finally {
      await b.run(["rm", "-f", "-t", "0", "keys"]);
    }
  });

  test("inside: uid 0, image owners, own /proc, hostname, env, workdir, user", async () => {
    const out = await b.ok(["run", "--rm", "--hostname", "box1", "-e", "FOO=bar", "-w", "/tmp", BB, "sh", "-c",
      "id -u; stat -c %u /bin/busybox; stat -c %u:%g /home/www/index.html; echo /proc/[0-9]*; hostname; echo $FOO; pwd; cat /etc/hostname"]);
    // /proc holds only this container's processes: the shell, PID 1 (the glob is expanded by the shell itself)
    expect(out.split("\n")).toEqual(["0", "0", "33:33", "/proc/1", "box1", "bar", "/tmp", "box1", ""]);
    expect((await b.ok(["run", "--rm", "-u", "www-data", BB, "id"])).trim()).toBe("uid=33(www-data) gid=33(www-data) groups=33(www-data)");
    expect((await b.ok(["run", "--rm", "-u", "1234:5678", BB, "id", "-u"])).trim()).toBe("1234");
    // a uid the image does not know: an entry in a copy of its passwd and group, HOME the workdir, as Podman
    const imageUsers = Number((await b.ok(["run", "--rm", BB, "grep", "-c", "", "/etc/passwd"])).trim());
    expect(await b.ok(["run", "--rm", "-u", "1234:5678", "-w", "/tmp", BB, "sh", "-c", "id; echo $HOME $TERM; whoami; grep -c '' /etc/passwd"])).toBe(
      `uid=1234(1234) gid=5678(5678) groups=5678(5678)\n/tmp xterm\n1234\n${imageUsers + 1}\n`,
    );
    expect((await b.ok(["run", "--rm", BB, "sh", "-c", "grep Cap[EB][fn][fd] /proc/self/status"])).trim()).toBe("CapEff:\t00000000800405fb\nCapBnd:\t00000000800405fb");
    // no inheritable capabilities, as Podman (CVE-2022-24769), for exec too
    expect((await b.ok(["run", "--rm", BB, "grep", "CapInh", "/proc/self/status"])).trim()).toBe("CapInh:\t0000000000000000");
    await b.ok(["run", "-d", "--name", "capinh", BB, "sleep", "60"]);
    expect((await b.ok(["exec", "capinh", "grep", "CapInh", "/proc/self/status"])).trim()).toBe("CapInh:\t0000000000000000");
    await b.ok(["rm", "-f", "-t", "0", "capinh"]);
  });

  test("--cap-add and --cap-drop: the sets Podman makes, ambient for a user other than root, refusals, inspect", async () => {
    const sets = async (...args: string[]) => {
      const out = await b.ok(["run", "--rm", "--network", "none", ...args, BB, "grep", "^Cap", "/proc/self/status"]);
      return Object.fromEntries(out.trim().split("\n").map((l) => l.split(":\t")));
    };
    const same = (hex: string, amb = "0000000000000000") => ({ CapInh: amb, CapPrm: hex, CapEff: hex, CapBnd: hex, CapAmb: amb });
    expect(await sets()).toEqual(same("00000000800405fb"));
    expect(await sets("--cap-add", "net_admin")).toEqual(same("00000000800415fb"));
    expect(await sets("--cap-add", "CAP_NET_RAW", "--cap-drop", "chown")).toEqual(same("00000000800425fa"));
    expect(await sets("--cap-add", "net_admin,SYS_TIME")).toEqual(same("00000000820415fb"));
    expect(await sets("--cap-drop=chown,kill")).toEqual(same("00000000800405da"));
    expect(await sets("--cap-drop", "all")).toEqual(same("0000000000000000"));
    expect(await sets("--cap-drop", "ALL", "--cap-add", "sys_admin")).toEqual(same("0000000000200000"));
    // ALL: every capability of the kernel rootless (a new user namespace has them all), root's own bounding set as root
    const last = BigInt(Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8")));
    const hostBnd = BigInt(`0x${/^CapBnd:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))![1]}`);
    const all = (mode === "root" ? hostBnd : (1n << (last + 1n)) - 1n).toString(16).padStart(16, "0");
    expect(await sets("--cap-add", "all")).toEqual(same(all));
    // ALL does not overrule what is dropped (either order)
    const less = (hex: string, ...bits: number[]) => bits.reduce((v, bit) => v & ~(1n << BigInt(bit)), BigInt(`0x${hex}`)).toString(16).padStart(16, "0");
    expect(await sets("--cap-add", "ALL", "--cap-drop", "net_raw")).toEqual(same(less(all, 13)));
    expect(await sets("--cap-drop", "sys_admin,net_raw", "--cap-add", "all")).toEqual(same(less(all, 13, 21)));
    // a user other than root: only what --cap-add gave, effective and ambient (so kept across exec), as Podman
    const u = { CapInh: "0000000002001000", CapPrm: "0000000002001000", CapEff: "0000000002001000", CapBnd: "00000000820415fb", CapAmb: "0000000002001000" };
    expect(await sets("-u", "1000", "--cap-add", "net_admin,sys_time")).toEqual(u);
    expect(await sets("-u", "1000")).toEqual({ ...same("0000000000000000"), CapBnd: "00000000800405fb" });
    expect(await sets("-u", "1000", "--cap-add", "all")).toEqual(same(all, all));
    expect(await sets("-u", "1000", "--cap-add", "all", "--cap-drop", "sys_admin")).toEqual(same(less(all, 21), less(all, 21)));
    // the capability does what it says: lo goes down with NET_ADMIN, as uid 1000 too; not without it
    expect(await b.ok(["run", "--rm", "--network", "none", "--cap-add", "net_admin", "-u", "1000", BB, "sh", "-c", "ip link set lo down && cat /sys/class/net/lo/operstate"])).toBe("down\n");
    expect((await b.run(["run", "--rm", "--network", "none", BB, "ip", "link", "set", "lo", "down"])).code).not.toBe(0);
    const chown = await b.run(["run", "--rm", "--cap-drop", "chown", BB, "sh", "-c", "touch /tmp/x && chown 5 /tmp/x"]);
    expect(chown.code).toBe(1);
    expect(chown.stderr).toContain("Operation not permitted");
    // exec takes the container's sets: its user gets the ambient ones, root (-u 0) the whole bounding set
    await b.ok(["run", "-d", "--name", "caps", "-u", "1000", "--cap-add", "net_admin", "--cap-drop", "kill", BB, "sleep", "60"]);
    try {
      const execSets = async (...extra: string[]) => (await b.ok(["exec", ...extra, "caps", "grep", "-E", "^Cap(Eff|Amb)", "/proc/self/status"])).trim();
      expect(await execSets()).toBe("CapEff:\t0000000000001000\nCapAmb:\t0000000000001000");
      expect(await execSets("-u", "0")).toBe("CapEff:\t00000000800415db\nCapAmb:\t0000000000000000");
      const i = JSON.parse(await b.ok(["inspect", "caps"]))[0];
      expect([i.EffectiveCaps, i.HostConfig.CapAdd, i.HostConfig.CapDrop]).toEqual([["CAP_NET_ADMIN"], ["CAP_NET_ADMIN"], ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_MKNOD", "CAP_NET_RAW"]]);
      expect(i.BoundingCaps).toEqual(["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_NET_ADMIN", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT"]);
    } finally {
      await b.run(["rm", "-f", "-t", "0", "caps"]);
    }
    // inspect of a default container and of one with nothing: Podman's shapes (null for an empty set)
    await b.ok(["create", "--name", "capsdef", BB]);
    await b.ok(["create", "--name", "capsnone", "--cap-drop", "all", BB]);
    const [d, n] = JSON.parse(await b.ok(["inspect", "capsdef", "capsnone"]));
    expect([d.EffectiveCaps, d.HostConfig.CapAdd, d.HostConfig.CapDrop]).toEqual([d.BoundingCaps, [], ["CAP_AUDIT_WRITE", "CAP_MKNOD", "CAP_NET_RAW"]]);
    expect(d.BoundingCaps.length).toBe(11);
    expect([n.EffectiveCaps, n.BoundingCaps, n.HostConfig.CapAdd, n.HostConfig.CapDrop.length]).toEqual([null, null, [], 14]);
    await b.ok(["rm", "capsdef", "capsnone"]);
    // refused before anything is made: one line, 125
    expectOneError(await b.run(["run", "--rm", "--cap-add", "foo", BB, "true"]), /unknown capability "CAP_FOO"/);
    // as Podman: no trimming, and an empty item is the unknown "CAP_"
    expectOneError(await b.run(["run", "--rm", "--cap-add", "NET_ADMIN,", BB, "true"]), /unknown capability "CAP_"/);
    expectOneError(await b.run(["run", "--rm", "--cap-drop", " chown", BB, "true"]), /unknown capability "CAP_ CHOWN"/);
    expectOneError(await b.run(["run", "--rm", "--cap-add", "all", "--cap-drop", "all", BB, "true"]), /adding all caps and removing all caps not allowed/);
    expectOneError(await b.run(["create", "--cap-add", "net_admin", "--cap-drop", "NET_ADMIN", BB]), /capability "CAP_NET_ADMIN" cannot be dropped and added/);
    expect(await b.ok(["ps", "-aq"])).toBe("");
  });

  test("a file written to a -v bind mount is owned by the user on the host; :ro is read-only", async () => {
    const dir = tempDir("tspod-vol-");
    chownSync(dir, b.uid, b.gid);
    chmodSync(dir, 0o755);
    await b.ok(["run", "--rm", "-v", `${dir}:/data`, BB, "sh", "-c", "echo x > /data/f"]);
    expect(statSync(join(dir, "f")).uid).toBe(b.uid);
    const r = await b.run(["run", "--rm", "-v", `${dir}:/data:ro`, BB, "sh", "-c", "echo y > /data/g"]);
    expect(r.code).not.toBe(0);
    expect(existsSync(join(dir, "g"))).toBe(false);
    expect((await b.ok(["run", "--rm", "--tmpfs", "/scratch", BB, "sh", "-c", "mount | grep ' /scratch '"])).length).toBeGreaterThan(0);
    const ro = await b.run(["run", "--rm", "--read-only", BB, "touch", "/x"]);
    expect(ro.code).toBe(1);
    // --read-only keeps /tmp, /var/tmp and /run writable (tmpfs), as Podman's read-only-tmpfs does
    expect(await b.ok(["run", "--rm", "--read-only", BB, "sh", "-c", "touch /tmp/a /var/tmp/b /run/c && echo ok; touch /etc/x 2>/dev/null || echo etc-ro"])).toBe("ok\netc-ro\n");
    const off = await b.run(["run", "--rm", "--read-only", "--read-only-tmpfs=false", BB, "touch", "/tmp/a"]);
    expect(off.code).toBe(1);
    // inspect in Podman's shapes: binds in Mounts and HostConfig.Binds, tmpfs in HostConfig.Tmpfs; tspod's own files in neither
    await b.ok(["create", "--name", "mnts", "--read-only", "-v", `${dir}:/data:ro`, "-v", `${dir}:/data2`, "--tmpfs", "/scratch:size=1m", BB, "true"]);
    const ins = JSON.parse(await b.ok(["inspect", "mnts"]))[0];
    expect(ins.HostConfig.Binds).toEqual([`${dir}:/data:ro,rprivate,rbind`, `${dir}:/data2:rw,rprivate,rbind`]);
    expect(ins.HostConfig.Tmpfs).toEqual(Object.fromEntries([["/scratch", "size=1m,"], ["/tmp", ""], ["/var/tmp", ""], ["/run", ""]].map(([d, o]) => [d, `${o}rw,rprivate,nosuid,nodev,tmpcopyup`])));
    expect(ins.Mounts).toEqual([
      { Type: "bind", Source: dir, Destination: "/data", Driver: "", Mode: "", Options: ["rbind"], RW: false, Propagation: "rprivate" },
      { Type: "bind", Source: dir, Destination: "/data2", Driver: "", Mode: "", Options: ["rbind"], RW: true, Propagation: "rprivate" },
    ]);
    // a container on its network: the hosts and resolv.conf it shares are not its mounts either
    await b.ok(["create", "--name", "mnts2", "--network", "container:mnts", BB, "true"]);
    const ins2 = JSON.parse(await b.ok(["inspect", "mnts2"]))[0];
    expect([ins2.Mounts, ins2.HostConfig.Binds, ins2.HostConfig.Tmpfs]).toEqual([[], [], {}]);
    expect(await b.ok(["ps", "-a", "--filter", "name=^mnts", "--format", "{{.Names}} {{.Mounts}}"])).toBe("mnts2 []\nmnts [/data /data2]\n");
    await b.ok(["rm", "mnts2", "mnts"]);
  });

  test("whiteouts of the multi-layer image are honoured at run time", async () => {
    const out = await b.ok(["run", "--rm", ML, "sh", "-c", "ls /data /opq; cat /zstd-marker /plain-marker"]);
    const lines = out.split("\n");
    expect(lines).toContain("keep");
    expect(lines).toContain("new");
    for (const gone of ["gone", "old1", "old2"]) expect(lines).not.toContain(gone);
  });

  test.each(["overlay", "fuse-overlayfs", "vfs"])("whiteouts with the %s storage driver", async (driver) => {
    const out = await b.ok(["--storage-driver", driver, "run", "--rm", ML, "sh", "-c", "ls /data /opq; stat -c %u /home/www/index.html; mount | head -1"]);
    const lines = out.split("\n");
    expect(lines).toContain("keep");
    expect(lines).toContain("new");
    for (const gone of ["gone", "old1", "old2"]) expect(lines).not.toContain(gone);
    expect(lines).toContain("33");
    const root = lines.find((l) => l.includes(" on / "))!;
    expect(root).toMatch(driver === "overlay" ? /^overlay on \/ type overlay/ : driver === "fuse-overlayfs" ? /type fuse\.fuse-overlayfs/ : /^\S+ on \/ type (?!overlay|fuse)/);
  });

  test.each(["overlay", "fuse-overlayfs", "vfs"])("writes with the %s storage driver: files made, replaced and renamed in / and in the image's directories", async (driver) => {
    // fuse-overlayfs once hung here: after pivot_root its daemon's root was its own mount
    const script = "echo hi > /hi && cat /hi && rm -rf /opq && echo file > /opq && cat /opq && mv /data /data2 && ls /data2 && mkdir /newdir && touch /newdir/x && ls /newdir && echo ok";
    const r = await b.run(["--storage-driver", driver, "run", "--rm", ML, "sh", "-c", script], { timeoutMs: 30_000 });
    expect(r.stdout.split("\n")).toEqual(["hi", "file", "keep", "x", "ok", ""]);
    expect(r.code).toBe(0);
  });

  test("limits: applied through cgroups as root, refused clearly rootless; pause and unpause", async () => {
    if (mode === "root") {
      // a shell variable of 50 MB under a 16 MB limit: the kernel's OOM killer ends it
      const r = await b.run(["run", "--rm", "--memory", "16m", BB, "sh", "-c", 'x=$(head -c 50000000 /dev/zero | tr "\\0" a); echo survived']);
      expect(r.code).toBe(137);
      expect(r.stdout).not.toContain("survived");
      await b.ok(["run", "-d", "--name", "lim", "--memory", "20m", "--pids-limit", "9", "--cpus", "0.5", BB, "sleep", "20"]);
      const id = (await b.ok(["inspect", "-f", "{{.Id}}", "lim"])).trim();
      expect(readFileSync(`/sys/fs/cgroup/memory/tspod/${id}/memory.limit_in_bytes`, "utf8").trim()).toBe(String(20 * 1024 * 1024));
      expect(readFileSync(`/sys/fs/cgroup/pids/tspod/${id}/pids.max`, "utf8").trim()).toBe("9");
      expect(readFileSync(`/sys/fs/cgroup/cpu/tspod/${id}/cpu.cfs_quota_us`, "utf8").trim()).toBe("50000");
      await b.ok(["pause", "lim"]);
      expect(readFileSync(`/sys/fs/cgroup/freezer/tspod/${id}/freezer.state`, "utf8").trim()).toBe("FROZEN");
      expect((await b.ok(["ps", "--format", "{{.Status}}"])).trim()).toBe("Paused");
      await b.ok(["unpause", "lim"]);
      expect(readFileSync(`/sys/fs/cgroup/freezer/tspod/${id}/freezer.state`, "utf8").trim()).toBe("THAWED");
      await b.ok(["rm", "-f", "lim"]);
      expect(existsSync(`/sys/fs/cgroup/memory/tspod/${id}`)).toBe(false);
    } else {
      const r = await b.run(["run", "--rm", "--memory", "16m", BB, "true"]);
      expect(r.code).toBe(125);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toContain("cgroups");
      // pause without a freezer: every process of the container is stopped, then continued
      await b.ok(["run", "-d", "--name", "pz", BB, "sh", "-c", "sleep 20 & while true; do sleep 1; done"]);
      const pid = JSON.parse(await b.ok(["inspect", "pz"]))[0].State.Pid;
      await b.ok(["pause", "pz"]);
      const state = () => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1][0];
      expect(state()).toBe("T");
      expect((await b.ok(["ps", "--format", "{{.Status}}"])).trim()).toBe("Paused");
      await b.ok(["unpause", "pz"]);
      expect(["S", "R"]).toContain(state());
      await b.ok(["rm", "-f", "pz"]);
      // processes forking all the time: none is left running (one forked between listing and signal was)
      await b.ok(["run", "-d", "--name", "pf", BB, "sh", "-c", 'while true; do sh -c "while true; do :; done" & sleep 0.05; done']);
      await Bun.sleep(300);
      for (let round = 0; round < 3; round++) {
        await b.ok(["pause", "pf"]);
        await Bun.sleep(200);
        const root = JSON.parse(await b.ok(["inspect", "pf"]))[0].State.Pid;
        const nsOf = (p: string) => { try { return require("node:fs").readlinkSync(`/proc/${p}/ns/pid`); } catch { return ""; } };
        const want = nsOf(String(root));
        const running = readdirSync("/proc").filter((p) => /^\d+$/.test(p) && nsOf(p) === want).filter((p) => {
          try { return !"TtZX".includes(readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]![0]!); } catch { return false; }
        });
        expect([round, running]).toEqual([round, []]);
        await b.ok(["unpause", "pf"]);
        await Bun.sleep(200);
      }
      await b.ok(["rm", "-f", "-t", "0", "pf"]);
    }
  });

  test("a container cannot write the helper binary through /proc (CVE-2019-5736 class)", async () => {
    // With --init, PID 1 stays the helper itself: it runs from a sealed memfd, never the host file.
    const r = await b.run(["run", "--rm", "--init", BB, "sh", "-c", "ls -l /proc/1/exe; echo pwned > /proc/1/exe && echo WROTE"]);
    expect(r.stdout).not.toContain("WROTE");
    expect(r.stdout).toContain("memfd:");
    const helper = JSON.parse(await b.ok(["info", "--format", "json"])).Version.Helper;
    const bytes = readFileSync(helper);
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    expect(bytes.includes(Buffer.from("pwned"))).toBe(false);
  });

  test("top and attach", async () => {
    await b.ok(["run", "-d", "--name", "tp", BB, "sh", "-c", "sleep 30 & while true; do echo tick; sleep 0.2; done"]);
    await Bun.sleep(200);
    const top = (await b.ok(["top", "tp"])).split("\n");
    expect(top[0]).toMatch(/^USER\s+PID\s+PPID\s+%CPU\s+ELAPSED\s+TTY\s+TIME\s+COMMAND$/);
    expect(top.some((l) => /^root\s+1\s+0\s/.test(l))).toBe(true);
    expect(top.some((l) => /\ssleep 30$/.test(l))).toBe(true);
    // ps descriptors, as Podman's top takes them: separate or comma-separated; the host's view too
    const d = (await b.ok(["top", "tp", "pid,comm", "hpid", "huser"])).trim().split("\n");
    expect(d[0]).toMatch(/^PID\s+COMMAND\s+HPID\s+HUSER$/);
    const state = JSON.parse(await b.ok(["inspect", "tp"]))[0].State;
    expect(d).toContainEqual(expect.stringMatching(new RegExp(`^1\\s+sh\\s+${state.Pid}\\s+${b.uid}$`)));
    // ps(1) options, as Podman passes them on: -eo LIST, -ef
    expect((await b.ok(["top", "tp", "-eo", "pid,%cpu,cmd"])).split("\n")[0]).toMatch(/^PID\s+%CPU\s+COMMAND$/);
    expect((await b.ok(["top", "tp", "-ef"])).split("\n")[0]).toBe(top[0]);
    const badDesc = await b.run(["top", "tp", "nosuch"]);
    expect([badDesc.code, badDesc.stderr]).toEqual([125, expect.stringMatching(/^Error: unknown descriptor: nosuch/)]);
    const p = Bun.spawn(b.tspodArgs(["attach", "tp"]), { stdout: "pipe", stderr: "pipe" });
    await Bun.sleep(700);
    await b.ok(["kill", "tp"]);
    const [out, code] = await Promise.all([new Response(p.stdout).text(), p.exited]);
    expect(out).toContain("tick\n");
    expect(code).toBe(137);
    await b.ok(["rm", "tp"]);
  });

  test("-d, logs -f, stop, rm; --rm -d leaves nothing behind", async () => {
    const id = (await b.ok(["run", "-d", "--name", "ticker", BB, "sh", "-c", "trap 'echo bye; exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"])).trim();
    expect(id).toMatch(/^[a-f0-9]{64}$/);
    const follow = b.run(["logs", "-f", "ticker"]);
    await Bun.sleep(700);
    await b.ok(["stop", "ticker"]);
    const logs = await follow;
    expect(logs.code).toBe(0);
    expect(logs.stdout).toContain("tick 0\ntick 1\n");
    expect(logs.stdout).toContain("bye\n");
    const st = JSON.parse(await b.ok(["inspect", "ticker"]))[0].State;
    expect(st.Status).toBe("exited");
    expect(st.ExitCode).toBe(0);
    expect((await b.ok(["logs", "--tail", "1", "ticker"])).trim()).toBe("bye");
    await b.ok(["rm", "ticker"]);
    expect((await b.run(["inspect", "ticker"])).code).toBe(125);
    const rid = (await b.ok(["run", "--rm", "-d", BB, "sh", "-c", "sleep 0.3"])).trim();
    for (let i = 0; i < 100 && existsSync(join(b.root, "containers", rid)); i++) await Bun.sleep(50);
    expect(existsSync(join(b.root, "containers", rid))).toBe(false);
    expect(await b.ok(["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.Status}} {{.Command}}"])).toBe("");
  });

  test("the CLI killed with SIGKILL: the container keeps running and its exit code is recorded", async () => {
    const p = Bun.spawn(b.tspodArgs(["run", "--name", "survivor", BB, "sh", "-c", "sleep 1; exit 3"]), { stdout: "ignore", stderr: "ignore" });
    for (let i = 0; i < 100; i++) {
      if ((await b.run(["ps", "-q", "--filter", "name=survivor"])).stdout.trim()) break;
      await Bun.sleep(20);
    }
    p.kill("SIGKILL");
    await p.exited;
    expect((await b.ok(["ps", "--format", "{{.Names}} {{.State}}"])).trim()).toBe("survivor running");
    expect((await b.ok(["wait", "survivor"])).trim()).toBe("3");
    expect(JSON.parse(await b.ok(["inspect", "survivor"]))[0].State.ExitCode).toBe(3);
    await b.ok(["rm", "survivor"]);
  });

  test("ps tells the truth when the monitor died", async () => {
    await b.ok(["run", "-d", "--name", "orphan", BB, "sleep", "30"]);
    const st = JSON.parse(await b.ok(["inspect", "orphan"]))[0].State;
    process.kill(st.ConmonPid, "SIGKILL");
    process.kill(st.Pid, "SIGKILL");
    await Bun.sleep(100);
    expect((await b.ok(["ps", "-a", "--format", "{{.Names}} {{.State}}"])).trim()).toBe("orphan exited");
    await b.ok(["rm", "orphan"]);
  });

  test("exec: namespaces, user, env, workdir, exit codes", async () => {
    await b.ok(["run", "-d", "--name", "host1", "--hostname", "h1", BB, "sleep", "30"]);
    expect(await b.ok(["exec", "host1", "hostname"])).toBe("h1\n");
    // in the container's pid namespace: pid 1 is its sleep
    expect((await b.ok(["exec", "host1", "cat", "/proc/1/cmdline"])).replace(/\0/g, " ").trim()).toBe("sleep 30");
    expect((await b.ok(["exec", "-u", "33", "-w", "/tmp", "-e", "A=b", "host1", "sh", "-c", "id -u; pwd; echo $A"])).split("\n")).toEqual(["33", "/tmp", "b", ""]);
    expect((await b.run(["exec", "host1", "sh", "-c", "exit 4"])).code).toBe(4);
    const nope = await b.run(["exec", "host1", "nope"]);
    expect([nope.code, nope.stderr]).toEqual([127, "Error: exec nope: No such file or directory\n"]);
    const nodir = await b.run(["exec", "-w", "/nonexist", "host1", "pwd"]);
    expect(nodir.code).toBe(127);
    expect(nodir.stderr).toBe("Error: chdir /nonexist: No such file or directory\n");
    if (mode === "rootless") {
      // a user the id map has no place for: 126 as run says it (was 125)
      const n = Number(ENV.SUBID_COUNT) + 1000;
      const bad = await b.run(["exec", "-u", String(n), "host1", "true"]);
      expect([bad.code, bad.stderr]).toEqual([126, `Error: setuid ${n}: Invalid argument\n`]);
    }
    // -d: back at once, the process runs on in the container
    const t0 = Date.now();
    const det = await b.run(["exec", "-d", "host1", "sh", "-c", "sleep 1; echo done > /tmp/detached; sleep 20"]);
    expect([det.code, det.stdout, det.stderr]).toEqual([0, "", ""]);
    expect(Date.now() - t0).toBeLessThan(10_000); // not detached: 21 s
    let found = "";
    for (let i = 0; i < 50 && !found; i++) {
      await Bun.sleep(100);
      found = (await b.run(["exec", "host1", "cat", "/tmp/detached"])).stdout;
    }
    expect(found).toBe("done\n");
    const detNope = await b.run(["exec", "-d", "host1", "nope"]);
    expect([detNope.code, detNope.stderr]).toEqual([127, "Error: exec nope: No such file or directory\n"]);
    expect(await b.ok(["exec", "-i", "host1", "cat"], { stdin: "piped\n" })).toBe("piped\n");
    // -t without -i under a terminal: the window size comes from the caller's terminal (stdout), not 0x0
    const sized = Bun.spawn(b.wrap(["script", "-qc", `stty cols 99 rows 33; ${[binary(), "--root", b.root, "--runroot", b.runroot, "exec", "-t", "host1", "stty", "size"].join(" ")}`, "/dev/null"]), { stdin: "ignore", stdout: "pipe" });
    expect((await new Response(sized.stdout).text()).replace(/\r/g, "")).toContain("33 99\n");
    // -t: a terminal of the container's own /dev/pts (tty and ttyname() find it there)
    expect((await b.ok(["exec", "-t", "host1", "sh", "-c", "tty && test -c $(tty) && echo ok"])).replace(/\r/g, "")).toMatch(/^\/dev\/pts\/\d+\nok\n$/);
    // rmi refuses an image a container uses (exit 2, as Podman)
    const r = await b.run(["rmi", BB]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("in use by container");
    await b.ok(["rm", "-f", "host1"]);
  });

  test("20 concurrent run -d: all succeed with unique names and show in ps", async () => {
    const runs = await Promise.all(Array.from({ length: 20 }, () => b.run(["run", "-d", BB, "sleep", "20"])));
    expect(runs.map((r) => [r.code, r.code ? r.stderr : ""])).toEqual(Array(20).fill([0, ""]));
    const ids = runs.map((r) => r.stdout.trim());
    expect(new Set(ids).size).toBe(20);
    const ps = (await b.ok(["ps", "--no-trunc", "--format", "{{.ID}} {{.Names}}"])).trim().split("\n");
    expect(ps.length).toBe(20);
    expect(new Set(ps.map((l) => l.split(" ")[1])).size).toBe(20);
    for (const id of ids) expect(ps.some((l) => l.startsWith(id))).toBe(true);
    // the same name twice at once: exactly one wins
    const two = await Promise.all([b.run(["run", "-d", "--name", "dup", BB, "sleep", "5"]), b.run(["run", "-d", "--name", "dup", BB, "sleep", "5"])]);
    expect(two.map((r) => r.code).sort()).toEqual([0, 125]);
    await b.ok(["rm", "-f", "-a"]);
    expect(await b.ok(["ps", "-aq"])).toBe("");
  });
});
