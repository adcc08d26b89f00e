// More of the container commands, root and rootless.
import { beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanEach, ENV, expectOneError, MODES, REGISTRY, sandboxes, tempDir } from "../helpers/tspod.ts";
import { ADJECTIVES, NOUNS } from "../../src/container/create.ts";

const BB = `${REGISTRY}/busybox:latest`;
const box = sandboxes();

describe.each(MODES)("containers (%s)", (mode) => {
  const b = box(mode);
  cleanEach(b);
  beforeAll(async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
  });

  // (names that cannot be the start of an ID: `exists c1` is true for an ID that starts with c1)
  test("create, start -a, restart, rename, exists, prune", async () => {
    const id = (await b.ok(["create", "--name", "n1", BB, "sh", "-c", "echo started; exit 3"])).trim();
    expect((await b.ok(["ps", "-a", "--format", "{{.Names}} {{.State}}"])).trim()).toBe("n1 created");
    const r = await b.run(["start", "-a", "n1"]);
    expect(r.stdout).toBe("started\n");
    expect(r.code).toBe(3);
    expect(JSON.parse(await b.ok(["inspect", "n1"]))[0].State.ExitCode).toBe(3);
    await b.ok(["rename", "n1", "n2"]);
    expect((await b.run(["container", "exists", "n1"])).code).toBe(1);
    expect((await b.run(["container", "exists", "n2"])).code).toBe(0);
    expect((await b.run(["container", "exists", id.slice(0, 8)])).code).toBe(0);
    await b.ok(["create", "--name", "n1", BB, "true"]); // the old name is free again
    await b.ok(["run", "-d", "--name", "r1", BB, "sh", "-c", "echo run; sleep 30"]);
    // rename of a running container: its /etc/hosts names it anew
    await b.ok(["rename", "r1", "r2"]);
    const hosts = await b.ok(["exec", "r2", "cat", "/etc/hosts"]);
    expect(hosts).toMatch(/\t[0-9a-f]{12} r2$/m); // host name first (hostname -f reads it), then the name, as Podman
    expect(hosts).not.toMatch(/\br1\b/);
    await b.ok(["rename", "r2", "r1"]);
    const pid1 = JSON.parse(await b.ok(["inspect", "r1"]))[0].State.Pid;
    await b.ok(["restart", "-t", "0", "r1"]);
    const st = JSON.parse(await b.ok(["inspect", "r1"]))[0].State;
    expect(st.Status).toBe("running");
    expect(st.Pid).not.toBe(pid1);
    // a --rm container survives a restart (as with Podman) and goes once it exits for good
    await b.ok(["run", "-d", "--rm", "--name", "rr", BB, "sleep", "30"]);
    const rrPid = JSON.parse(await b.ok(["inspect", "rr"]))[0].State.Pid;
    await b.ok(["restart", "-t", "0", "rr"]);
    await Bun.sleep(1500); // past the old monitor's cleanup
    const rr = JSON.parse(await b.ok(["inspect", "rr"]))[0].State;
    expect([rr.Status, rr.Pid === rrPid]).toEqual(["running", false]);
    await b.ok(["stop", "-t", "0", "rr"]);
    for (let i = 0; i < 50 && (await b.run(["container", "exists", "rr"])).code === 0; i++) await Bun.sleep(100);
    expect((await b.run(["container", "exists", "rr"])).code).toBe(1);
    const pruned = (await b.ok(["container", "prune", "-f"])).trim().split("\n").sort();
    expect(pruned.length).toBe(2); // n2 (exited) and n1 (created); r1 runs
    expect((await b.ok(["ps", "-a", "--format", "{{.Names}}"])).trim()).toBe("r1");
    await b.ok(["rm", "-f", "r1"]);
  });

  test("ps filters: one key's values are alternatives (label: all), different keys all apply", async () => {
    await b.ok(["create", "--name", "pf1", "--label", "a=1", BB, "true"]);
    await b.ok(["run", "-d", "--name", "pf2", "--label", "a=1", "--label", "b=2", BB, "sleep", "30"]);
    expect((await b.run(["run", "--name", "pf3", "--label", "b=2", BB, "sh", "-c", "exit 3"])).code).toBe(3);
    const names = async (...filters: string[]) =>
      (await b.ok(["ps", "-a", "--format", "{{.Names}}", ...filters.flatMap((f) => ["--filter", f])])).trim().split("\n").filter(Boolean).sort();
    expect(await names("name=pf1", "name=pf2")).toEqual(["pf1", "pf2"]);
    expect(await names("status=exited", "status=running")).toEqual(["pf2", "pf3"]);
    expect(await names("name=pf", "status=running")).toEqual(["pf2"]);
    expect(await names("label=a=1", "label=b=2")).toEqual(["pf2"]);
    expect(await names("label=b")).toEqual(["pf2", "pf3"]);
    expect(await names("exited=3")).toEqual(["pf3"]);
    expect(await names("status=created", "name=pf")).toEqual(["pf1"]);
    // by creation: before= and since= a container (name or ID), until= a time
    const pf2id = (await b.ok(["inspect", "--format", "{{.Id}}", "pf2"])).trim();
    expect(await names("since=pf1")).toEqual(["pf2", "pf3"]);
    expect(await names("before=pf3")).toEqual(["pf1", "pf2"]);
    expect(await names("since=pf1", "before=pf3")).toEqual(["pf2"]);
    expect(await names(`since=${pf2id.slice(0, 12)}`)).toEqual(["pf3"]);
    expect(await names("until=2000-01-01T00:00:00Z")).toEqual([]);
    expect(await names("until=2999-01-01T00:00:00Z", "name=pf")).toEqual(["pf1", "pf2", "pf3"]);
    const noRef = await b.run(["ps", "-a", "--filter", "name=^none-at-all$", "--filter", "since=no-such-ctr"]);
    expect([noRef.code, noRef.stdout]).toEqual([125, ""]);
    expect(noRef.stderr).toMatch(/^Error: .*no such container.*\n$/);
    // Podman's other --format fields
    expect(await b.ok(["ps", "-a", "--filter", "name=pf3", "--format", "{{.Names}} {{.Exited}} {{.ExitCode}} {{.AutoRemove}} {{.Networks}} {{.Mounts}} {{.PodName}}|"])).toBe("pf3 true 3 false [pasta] [] |\n");
    expect(await b.ok(["ps", "-a", "--filter", "name=pf3", "--format", "{{.RunningFor}}|{{.CreatedHuman}}"])).toMatch(/^(\S.* ago)\|\1\n$/);
    // .Created and .CreatedAt: the time as Go prints it, as Podman 4
    expect(await b.ok(["ps", "-a", "--filter", "name=pf3", "--format", "{{.Created}}|{{.CreatedAt}}"])).toMatch(/^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC)\|\1\n$/);
    // labels: the map, or null for none (Go's nil map, as Podman prints it); a template sees map[]
    await b.ok(["create", "--name", "pf4", BB, "true"]);
    expect(await b.ok(["ps", "-a", "--filter", "name=^pf[34]$", "--format", "{{.Names}} {{json .Labels}} {{.Labels}}"])).toBe('pf4 null map[]\npf3 {"b":"2"} map[b:2]\n');
    expect(JSON.parse(await b.ok(["ps", "-a", "--filter", "name=^pf4$", "--format", "json"]))[0].Labels).toBeNull();
    // the JSON has the fields the template has (as Podman's)
    const pf3 = JSON.parse(await b.ok(["ps", "-a", "--filter", "name=^pf3$", "--format", "json"]))[0];
    expect([pf3.Networks, pf3.Mounts, pf3.PodName, pf3.Ports, pf3.Namespaces, pf3.ExitedAt >= pf3.StartedAt && pf3.ExitedAt > 0]).toEqual([["pasta"], [], "", null, {}, true]);
    expect(await b.ok(["inspect", "--format", "{{json .Config.Labels}}", "pf4", "pf3"])).toBe('null\n{"b":"2"}\n');
    await b.ok(["rm", "pf4"]);
    // (Size is human, VirtualSize bytes, as Podman's template gives them); --filter containers= sees the users
    const sizes = await b.ok(["images", "--filter", `reference=${BB}`, "--format", "{{.Size}}={{.VirtualSize}} {{.Containers}} {{.ReadOnly}}"]);
    expect(sizes).toMatch(/^\d+(\.\d+)? [kMG]?B=\d+ 3 false\n$/);
    expect(JSON.parse(await b.ok(["images", "--filter", `reference=${BB}`, "--format", "json"]))[0].Containers).toBe(3);
    const bytes = Number(sizes.split("=")[1]!.split(" ")[0]);
    expect(sizes.split("=")[0]).toBe(`${Number((bytes / 1e6).toPrecision(3))} MB`);
    expect(await b.ok(["images", "-q", "--filter", "containers=true", "--filter", `reference=${BB}`])).not.toBe("");
    expect(await b.ok(["images", "-q", "--filter", "containers=false", "--filter", `reference=${BB}`])).toBe("");
    const bad = await b.run(["ps", "-a", "--filter", "status=bogus"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^Error: invalid filter "status=bogus": unknown container state .*\n$/);
    // network= and pod= (by name or ID), --sort
    await b.ok(["create", "--name", "pf4", "--network", "none", BB, "true"]);
    const podId = (await b.ok(["pod", "create", "--name", "pfpod", "--network", "none"])).trim();
    await b.ok(["create", "--name", "pf5", "--pod", "pfpod", BB, "true"]);
    expect(await names("network=none", "name=pf4")).toEqual(["pf4"]);
    const inPod = await names("pod=pfpod"); // the member and the pod's infra container
    expect(inPod).toContain("pf5");
    expect(inPod.filter((n) => n !== "pf5").every((n) => n.endsWith("-infra"))).toBe(true);
    expect(inPod.length).toBe(2);
    expect(await names("pod=pfpod", "name=pf5")).toEqual(["pf5"]);
    expect(await names(`pod=${podId.slice(0, 12)}`, "name=pf5")).toEqual(["pf5"]);
    const withPod = (await b.ok(["ps", "-a", "--pod", "--filter", "name=pf5"])).split("\n");
    expect(withPod[0]).toMatch(/\sNAMES\s+POD ID\s+PODNAME$/);
    expect(withPod[1]).toMatch(new RegExp(`\\spf5\\s+${podId.slice(0, 12)}\\s+pfpod$`));
    expect((await b.ok(["ps", "-a", "--sort", "names", "--filter", "name=^pf[1-5]$", "--format", "{{.Names}}"])).trim().split("\n")).toEqual(["pf1", "pf2", "pf3", "pf4", "pf5"]);
    // created: oldest first, as Podman sorts (the default is newest first)
    expect((await b.ok(["ps", "-a", "--sort", "created", "--filter", "name=^pf[1-5]$", "--format", "{{.Names}}"])).trim().split("\n")).toEqual(["pf1", "pf2", "pf3", "pf4", "pf5"]);
    expect((await b.ok(["ps", "-a", "--filter", "name=^pf[1-5]$", "--format", "{{.Names}}"])).trim().split("\n")).toEqual(["pf5", "pf4", "pf3", "pf2", "pf1"]);
    expect((await b.run(["ps", "--sort", "bogus"])).code).toBe(125);
    await b.ok(["pod", "rm", "-f", "pfpod"]);
    await b.ok(["rm", "-f", "pf1", "pf2", "pf3", "pf4"]);
  });

  test("ps -s: the writable layer's size (files of other users in their own directories too) and the image's; --sort size", async () => {
    // 5000 bytes, 3000 more in a directory only uid 1000 may read, a hard link counted once
    await b.ok(["run", "--name", "big", "--network", "none", BB, "sh", "-c", "head -c 5000 /dev/zero > /f; ln /f /f2; mkdir /priv; head -c 3000 /dev/zero > /priv/x; chown -R 1000:1000 /priv; chmod 700 /priv"]);
    await b.ok(["create", "--name", "small", "--network", "none", BB, "true"]);
    const imageSize = JSON.parse(await b.ok(["image", "inspect", BB]))[0].Size;
    const json = JSON.parse(await b.ok(["ps", "-a", "-s", "--format", "json"]));
    expect(Object.fromEntries(json.map((c: any) => [c.Names[0], c.Size]))).toEqual({
      big: { rootFsSize: imageSize + 8000, rwSize: 8000 },
      small: { rootFsSize: imageSize, rwSize: 0 },
    });
    const virt = (n: number) => `${Number((n / 1e6).toPrecision(3))}MB`;
    expect(await b.ok(["ps", "-a", "--sort", "size", "--format", "{{.Names}} {{.Size}}"])).toBe(`small 0B (virtual ${virt(imageSize)})\nbig 8kB (virtual ${virt(imageSize + 8000)})\n`);
    const table = (await b.ok(["ps", "-a", "-s"])).split("\n");
    expect(table[0]).toMatch(/\bNAMES\s+SIZE$/);
    expect(table.find((l) => /\bbig\b/.test(l))).toMatch(/\bbig\s+8kB \(virtual [\d.]+MB\)$/);
    expect(JSON.parse(await b.ok(["ps", "-a", "--format", "json"]))[0].Size).toBeNull(); // only with -s (null, as Podman)
    const q = await b.run(["ps", "-a", "-q", "-s"]);
    expect([q.code, q.stderr]).toEqual([125, "Error: quiet conflicts with size\n"]);
    // inspect -s: the same counts as SizeRw and SizeRootFs (and none without -s, as Podman)
    const ins = JSON.parse(await b.ok(["inspect", "-s", "big", "small"])).map((c: any) => [c.SizeRw, c.SizeRootFs]);
    expect(ins).toEqual([[8000, imageSize + 8000], [0, imageSize]]);
    expect(await b.ok(["container", "inspect", "--size", "--format", "{{.SizeRw}}", "big"])).toBe("8000\n");
    expect("SizeRw" in JSON.parse(await b.ok(["inspect", "big"]))[0]).toBe(false);
    await b.ok(["rm", "big", "small"]);
  });

  test("rm -f -t N stops a running container as stop -t N does (its TERM handler runs); without -t it is killed", async () => {
    const dir = mkdtempSync("/tmp/tspod-rmt-");
    chownSync(dir, b.uid, b.gid);
    try {
      const script = "trap 'echo got TERM > /out/$0; exit 9' TERM; while true; do sleep 0.1; done";
      for (const [name, args] of [["rmt", ["-t", "5"]], ["rmk", []]] as const) {
        await b.ok(["run", "-d", "--name", name, "--network", "none", "-v", `${dir}:/out`, BB, "sh", "-c", script, name]);
        await Bun.sleep(300);
        const t0 = Date.now();
        const r = await b.run(["rm", "-f", ...args, name]);
        expect([r.code, r.stdout]).toEqual([0, `${name}\n`]);
        expect(Date.now() - t0).toBeLessThan(5000); // the handler ended it: no wait for SIGKILL
      }
      expect(existsSync(join(dir, "rmt"))).toBe(true); // TERM came first
    // -t needs -f, and a time from 0 (as Podman)
    await b.ok(["create", "--name", "rmx", BB, "true"]);
    for (const args of [["rm", "-t", "5", "rmx"], ["rm", "-f", "-t", "-1", "rmx"]]) expect([args, (await b.run(args)).code]).toEqual([args, 125]);
    await b.ok(["rm", "rmx"]);
      expect(existsSync(join(dir, "rmk"))).toBe(false); // killed at once
      expect(await b.ps()).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("generated names: one taken is drawn again (half of them taken: every create still gets a free one)", async () => {
    // every other generated name held by a live creator (this test), as a create at that moment would hold it
    const names = join(b.root, "names");
    mkdirSync(names, { recursive: true });
    chownSync(names, b.uid, b.gid);
    const taken = new Set<string>();
    let k = 0;
    for (const a of ADJECTIVES) for (const n of NOUNS) for (let d = 0; d < 100; d++) if (k++ % 2 === 0) taken.add(`${a}_${n}${d}`);
    for (const t of taken) writeFileSync(join(names, t), `${"f".repeat(64)}\n${process.pid}\n`);
    try {
      const made = await Promise.all(Array.from({ length: 8 }, () => b.run(["create", BB, "true"])));
      expect(made.map((r) => [r.code, r.stderr])).toEqual(Array(8).fill([0, ""]));
      const got = (await b.ok(["ps", "-a", "--format", "{{.Names}}"])).trim().split("\n");
      expect(got.length).toBe(8);
      for (const g of got) expect(taken.has(g)).toBe(false);
    } finally {
      for (const t of taken) rmSync(join(names, t), { force: true });
      await b.ok(["rm", "-a", "-f"]);
    }
  });

  test("several starts of one stopped container at once: one runs it, all succeed, one monitor (none after rm)", async () => {
    await b.ok(["run", "-d", "--name", "once", "--network", "none", BB, "sleep", "100"]);
    const id = (await b.ok(["inspect", "--format", "{{.Id}}", "once"])).trim();
    const monitors = () => Bun.spawnSync(["pgrep", "-f", `monitor --spec .*${id}`]).stdout.toString().trim().split("\n").filter(Boolean).length;
    for (let round = 0; round < 3; round++) {
      await b.ok(["stop", "-t", "0", "once"]);
      const rs = await Promise.all(Array.from({ length: 5 }, () => b.run(["start", "once"])));
      expect(rs.map((r) => [r.code, r.stdout])).toEqual(Array(5).fill([0, "once\n"]));
      expect(monitors()).toBe(1);
    }
    await b.ok(["rm", "-f", "-t", "0", "once"]);
    expect(monitors()).toBe(0);
  });

  test("--stop-signal and --stop-timeout: stop sends that signal and waits that long; inspect shows both; bad values are refused before anything is made", async () => {
    // USR1 handled (exit 42): the signal stop sent was USR1, not the default TERM
    await b.ok(["run", "-d", "--name", "sigu", "--network", "none", "--stop-signal", "SIGUSR1", BB, "sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"]);
    // TERM ignored, --stop-timeout 1: killed after ~1 s, not the default 10
    await b.ok(["run", "-d", "--name", "sigt", "--network", "none", "--stop-timeout", "1", BB, "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]);
    await b.ok(["run", "-d", "--name", "sigt2", "--network", "none", "--stop-signal", "15", "--stop-timeout", "1", BB, "sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]);
    // times as Go prints a time.Time in a template (a running one has Go's zero FinishedAt); json: RFC 3339
    const [created, started, finished, json] = (await b.ok(["inspect", "--format", "{{.Created}}|{{.State.StartedAt}}|{{.State.FinishedAt}}|{{json .State.StartedAt}}", "sigu"])).trim().split("|");
    expect(created).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d*[1-9])? \+0000 UTC$/);
    expect(started).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d*[1-9])? \+0000 UTC$/);
    expect(finished).toBe("0001-01-01 00:00:00 +0000 UTC");
    expect(JSON.parse(json)).toBe(JSON.parse(await b.ok(["inspect", "sigu"]))[0].State.StartedAt);
    const cfg = JSON.parse(await b.ok(["inspect", "sigu", "sigt", "sigt2"])).map((c: any) => [c.Config.StopSignal, c.Config.StopTimeout]);
    expect(cfg).toEqual([["SIGUSR1", 10], ["SIGTERM", 1], ["SIGTERM", 1]]); // a number is shown by its name
    await Bun.sleep(300); // the traps are set
    await b.ok(["stop", "sigu"]);
    expect((await b.ok(["inspect", "--format", "{{.State.ExitCode}}", "sigu"])).trim()).toBe("42");
    // two at once, as Podman stops them: about one timeout in all, not two; printed in the order given
    const t0 = Date.now();
    const stopped = await b.run(["stop", "sigt2", "sigt"]);
    const took = Date.now() - t0;
    expect([stopped.code, stopped.stdout]).toEqual([0, "sigt2\nsigt\n"]);
    // as Podman: a warning for each that needed SIGKILL
    expect(stopped.stderr.trim().split("\n").sort()).toEqual(["sigt", "sigt2"].map((n) => `WARN[tspod] StopSignal SIGTERM failed to stop container ${n} in 1 seconds, resorting to SIGKILL`));
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(1950);
    expect((await b.ok(["inspect", "--format", "{{.State.ExitCode}}", "sigt", "sigt2"])).trim()).toBe("137\n137");
    await b.ok(["rm", "sigu", "sigt", "sigt2"]);
    for (const [flag, value, re] of [["--stop-signal", "NOSUCHSIG", /invalid signal: NOSUCHSIG/], ["--stop-timeout", "-1", /--stop-timeout -1/]] as const) {
      const r = await b.run(["run", "--name", "sigbad", flag, value, BB, "true"]);
      expect([r.code, r.stderr.trim().split("\n").length]).toEqual([125, 1]);
      expect(r.stderr).toMatch(re);
    }
    expect(await b.ps()).toEqual([]);
  });

  test("a run -d killed while it starts the container: what runs is recorded running (never created), and rm -f leaves no process", async () => {
    const procs = (marker: string) => Bun.spawnSync(["pgrep", "-f", `^sleep ${marker}$`]).stdout.toString().trim().split("\n").filter(Boolean);
    // killed at every moment of a start, early to late (the monitor runs on, its CLI is gone)
    // (markers unique to this run: a process another run left must not count)
    const base = 100_000 + Math.floor(Math.random() * 800_000);
    for (let ms = 20, i = 0; ms <= 260; ms += 40, i++) {
      const marker = String(base + i);
      const p = Bun.spawn(b.tspodArgs(["run", "-d", "--name", `kill${i}`, BB, "sleep", marker]), { stdout: "ignore", stderr: "ignore" });
      await Bun.sleep(ms);
      p.kill("SIGKILL");
      await p.exited;
      // once the monitor is done (it started the process, or nothing), the record says what is there
      let status = "";
      for (let k = 0; k < 60; k++) {
        status = (await b.ok(["ps", "-a", "--filter", `name=^kill${i}$`, "--format", "{{.State}}"])).trim();
        const running = procs(marker).length > 0;
        if ((running && status === "running") || (!running && status !== "running" && k > 10)) break;
        await Bun.sleep(50);
      }
      expect([ms, procs(marker).length > 0 ? "running" : "none"]).toEqual([ms, status === "running" ? "running" : "none"]);
      await b.run(["rm", "-f", "-t", "0", `kill${i}`]);
      for (let k = 0; k < 40 && procs(marker).length; k++) await Bun.sleep(50);
      expect([ms, procs(marker)]).toEqual([ms, []]);
    }
  });

  test("a foreground run --rm: stop says it stopped (exit 0); restart keeps it, running", async () => {
    const fg = Bun.spawn(b.tspodArgs(["run", "--rm", "--name", "fgrm", BB, "sleep", "100"]), { stdout: "ignore", stderr: "ignore" });
    for (let i = 0; i < 100 && (await b.run(["ps", "-q", "--filter", "name=^fgrm$"])).stdout.trim() === ""; i++) await Bun.sleep(50);
    expect(await b.ok(["restart", "-t", "0", "fgrm"])).toBe("fgrm\n");
    expect((await b.ok(["ps", "--filter", "name=^fgrm$", "--format", "{{.State}}"])).trim()).toBe("running");
    await fg.exited;
    const stop = await b.run(["stop", "-t", "0", "fgrm"]);
    expect([stop.code, stop.stdout, stop.stderr]).toEqual([0, "fgrm\n", ""]);
    // --rm: gone once stopped (its monitor removes it)
    for (let i = 0; i < 100 && (await b.run(["container", "exists", "fgrm"])).code === 0; i++) await Bun.sleep(50);
    expect((await b.run(["container", "exists", "fgrm"])).code).toBe(1);
    // and a foreground one stopped while its run waits: stop exits 0 too
    const fg2 = Bun.spawn(b.tspodArgs(["run", "--rm", "--name", "fgrm2", BB, "sleep", "100"]), { stdout: "ignore", stderr: "ignore" });
    for (let i = 0; i < 100 && (await b.run(["ps", "-q", "--filter", "name=^fgrm2$"])).stdout.trim() === ""; i++) await Bun.sleep(50);
    const stop2 = await b.run(["stop", "-t", "0", "fgrm2"]);
    expect([stop2.code, stop2.stdout, stop2.stderr]).toEqual([0, "fgrm2\n", ""]);
    await fg2.exited;
  });

  test("rm exit codes as Podman's: 1 no such container (-f: none), 2 running, each failure reported", async () => {
    await b.ok(["run", "-d", "--name", "rmrun", BB, "sleep", "30"]);
    await b.ok(["create", "--name", "rmc", BB, "true"]);
    let r = await b.run(["rm", "nosuch"]);
    expect([r.code, r.stderr]).toEqual([1, expect.stringMatching(/^Error: no container with name or ID "nosuch" found.*\n$/)]);
    r = await b.run(["rm", "-f", "nosuch"]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "", ""]);
    r = await b.run(["rm", "rmrun"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: .*running.*\n$/);
    // several names, one not there: as Podman, an error before anything is removed, exit 1
    r = await b.run(["rm", "nosuch", "rmc", "rmrun"]);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, "", expect.stringMatching(/^Error: .*nosuch.*\n$/)]);
    expect((await b.ps()).length).toBe(2);
    // one running (no -f): the others are removed, its error has its line, exit 2
    r = await b.run(["rm", "rmc", "rmrun"]);
    expect([r.code, r.stdout]).toEqual([2, "rmc\n"]);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    r = await b.run(["pod", "rm", "-f", "nosuchpod"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    await b.ok(["rm", "-f", "rmrun"]);
  });

  test("rm --depend: the containers on its network go first, then it; without it, rm refuses", async () => {
    const id = async (n: string) => (await b.ok(["create", "--name", n, ...(n === "dp1" ? [] : ["--network", "container:dp1"]), BB, "true"])).trim();
    const [d1, d2, d3] = [await id("dp1"), await id("dp2"), await id("dp3")];
    const r = await b.run(["rm", "dp1"]);
    expect([r.code, r.stdout]).toEqual([125, ""]);
    expect(r.stderr).toMatch(/dp1 has dependent containers which must be removed first: (dp2, dp3|dp3, dp2)\n$/);
    const out = (await b.ok(["rm", "--depend", "dp1"])).trim().split("\n");
    expect([out.slice(0, 2).sort(), out[2]]).toEqual([[d2, d3].sort(), d1]);
    // running, without -f: refused for running first (exit 2, as Podman), with or without --depend; -f --depend takes both
    await b.ok(["run", "-d", "--name", "rx", BB, "sleep", "60"]);
    await b.ok(["run", "-d", "--name", "ry", "--network", "container:rx", BB, "sleep", "60"]);
    for (const args of [["rm", "rx"], ["rm", "--depend", "rx"]]) {
      const r2 = await b.run(args);
      expect([args, r2.code]).toEqual([args, 2]);
      expect(r2.stderr).toMatch(/running/);
    }
    expect((await b.ps()).length).toBe(2);
    expect((await b.ok(["rm", "-f", "--depend", "rx"])).trim().split("\n")).toHaveLength(2);
    expect(await b.ps()).toEqual([]);
  });

  test("logs: --tail, -t, --since, stderr kept apart", async () => {
    await b.ok(["run", "--name", "lg", BB, "sh", "-c", "echo one; echo two >&2; echo three"]);
    const all = await b.run(["logs", "lg"]);
    expect(all.stdout).toBe("one\nthree\n");
    expect(all.stderr).toBe("two\n");
    // stdout and stderr are separate pipes: their relative order in the log is not defined
    const tail = await b.run(["logs", "--tail", "1", "lg"]);
    expect([tail.stdout + tail.stderr]).toContainEqual(expect.stringMatching(/^(three|two)\n$/));
    expect(await b.ok(["logs", "--tail", "0", "lg"])).toBe("");
    const ts = (await b.ok(["logs", "-t", "lg"])).trim().split("\n");
    for (const l of ts) expect(l).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (one|three)$/);
    expect(await b.ok(["logs", "--since", "1h", "lg"])).toBe("one\nthree\n");
    expect(await b.ok(["logs", "--since", "2999-01-01T00:00:00Z", "lg"])).toBe("");
    await b.ok(["rm", "lg"]);
    // a last line without a newline is a line for --tail too
    await b.ok(["run", "--name", "lg2", BB, "sh", "-c", "echo l4; echo l5; printf noeol"]);
    expect(await b.ok(["logs", "--tail", "2", "lg2"])).toBe("l5\nnoeol");
    expect(await b.ok(["logs", "--tail", "1", "lg2"])).toBe("noeol");
    // several containers: each line starts with its container's ID (--names: its name), in the order written;
    // --tail counts in each; a name that is not there is an error before anything is printed
    await b.ok(["run", "--name", "lg3", BB, "sh", "-c", "echo m1; sleep 0.05; echo m2"]);
    const [id2, id3] = (await b.ok(["inspect", "--format", "{{.Id}}", "lg2", "lg3"])).trim().split("\n").map((i) => i.slice(0, 12));
    expect(await b.ok(["logs", "lg2", "lg3"])).toBe(`${id2} l4\n${id2} l5\n${id2} noeol${id3} m1\n${id3} m2\n`);
    expect(await b.ok(["logs", "--names", "--tail", "1", "lg3", "lg2"])).toBe("lg2 noeollg3 m2\n");
    expect(await b.ok(["logs", "--names", "lg3"])).toBe("m1\nm2\n"); // one container: no prefix (as Podman)
    const missing = await b.run(["logs", "lg3", "no-such-ctr"]);
    expect([missing.code, missing.stdout]).toEqual([125, ""]);
    expect(missing.stderr).toMatch(/no such container/);
    await b.ok(["rm", "lg2", "lg3"]);
    // -f with several: new lines of each as they come, until all have exited
    await b.ok(["run", "-d", "--name", "lf1", "--network", "none", BB, "sh", "-c", "for i in 1 2 3; do echo a$i; sleep 0.2; done"]);
    await b.ok(["run", "-d", "--name", "lf2", "--network", "none", BB, "sh", "-c", "sleep 0.1; for i in 1 2; do echo b$i; sleep 0.2; done"]);
    const followed = (await b.ok(["logs", "-f", "--names", "lf1", "lf2"])).trim().split("\n");
    expect(followed.filter((l) => l.startsWith("lf1 "))).toEqual(["lf1 a1", "lf1 a2", "lf1 a3"]);
    expect(followed.filter((l) => l.startsWith("lf2 "))).toEqual(["lf2 b1", "lf2 b2"]);
    expect(followed).toHaveLength(5);
    await b.ok(["rm", "lf1", "lf2"]);
  });

  test("--env-file, --entrypoint, -e KEY from the host, kill -s, --init reaps and forwards", async () => {
    const dir = tempDir("tspod-envf-");
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "env"), "# comment\nA=1\nB=two words\n\n");
    chownSync(join(dir, "env"), b.uid, b.gid);
    expect((await b.ok(["run", "--rm", "--env-file", join(dir, "env"), "-e", "C=3", BB, "sh", "-c", 'echo "$A|$B|$C"'])).trim()).toBe("1|two words|3");
    expect((await b.ok(["run", "--rm", "-e", "LANG", BB, "sh", "-c", "echo $LANG"], { env: { LANG: "C.UTF-8" } })).trim()).toBe("C.UTF-8");
    expect((await b.ok(["run", "--rm", "--entrypoint", "echo", BB, "a", "b"])).trim()).toBe("a b");
    expect((await b.ok(["run", "--rm", "--entrypoint", '["sh","-c"]', BB, "echo $0", "x"])).trim()).toBe("x");
    // kill -s TERM reaches a trap
    await b.ok(["run", "-d", "--name", "k1", BB, "sh", "-c", "trap 'echo got-term; exit 9' TERM; while true; do sleep 0.1; done"]);
    await Bun.sleep(300);
    await b.ok(["kill", "-s", "TERM", "k1"]);
    expect((await b.ok(["wait", "k1"])).trim()).toBe("9");
    expect(await b.ok(["logs", "k1"])).toBe("got-term\n");
    await b.ok(["rm", "k1"]);
    // wait --condition: a state other than stopped prints -1 once reached (as Podman); a bad one is refused
    await b.ok(["create", "--name", "w1", "--network", "none", BB, "sh", "-c", "sleep 1; exit 4"]);
    const waiting = b.run(["wait", "--condition", "running", "w1"]);
    await Bun.sleep(300);
    await b.ok(["start", "w1"]);
    expect((await waiting).stdout).toBe("-1\n");
    expect(await b.ok(["wait", "--condition", "stopped", "w1"])).toBe("4\n");
    expect((await b.run(["wait", "--condition", "bogus", "w1"])).code).toBe(125);
    // a created container is stopped too, alone or among other conditions
    await b.ok(["create", "--name", "w2", "--network", "none", BB, "true"]);
    expect(await b.ok(["wait", "--condition", "running", "--condition", "exited", "w2"])).toBe("0\n");
    await b.ok(["rm", "w2"]);
    await b.ok(["rm", "w1"]);
    // a --rm container that removes itself while waited for: its code still (kept a while, as
    // Podman keeps it); by its full ID also once it is gone
    const wr = (await b.ok(["run", "-d", "--rm", "--name", "wr", "--network", "none", BB, "sh", "-c", "sleep 0.5; exit 7"])).trim();
    expect(await b.ok(["wait", "wr"])).toBe("7\n");
    for (let i = 0; i < 50 && (await b.run(["container", "exists", wr])).code === 0; i++) await Bun.sleep(100);
    expect((await b.run(["container", "exists", wr])).code).toBe(1);
    expect(await b.ok(["wait", wr])).toBe("7\n");
    expect((await b.run(["wait", "wr"])).code).toBe(125); // a name is gone with its container
    // several, one not there: only the error, nothing waited for or printed (as Podman)
    const someMissing = await b.run(["wait", wr, "no-such-ctr"]);
    expect([someMissing.code, someMissing.stdout]).toEqual([125, ""]);
    expect(someMissing.stderr).toMatch(/^Error: .*no-such-ctr.*\n$/);
    // --init: PID 1 is the reaper; orphans are reaped; stop's SIGTERM reaches the child at once
    await b.ok(["run", "-d", "--init", "--name", "i1", BB, "sh", "-c", "(sleep 0.1 &); sleep 30"]);
    await Bun.sleep(500);
    const ps = await b.ok(["exec", "i1", "ps", "-o", "pid,stat,comm"]);
    expect(ps).toMatch(/^\s*1 \S+\s+tspod-init$/m);
    expect(ps).not.toMatch(/ Z /);
    const t0 = Date.now();
    await b.ok(["stop", "i1"]);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(JSON.parse(await b.ok(["inspect", "i1"]))[0].State.ExitCode).toBe(143);
    await b.ok(["rm", "i1"]);
  });

  test("--pull never/always; --network none has only loopback (up), host shares the host's", async () => {
    const r = await b.run(["run", "--rm", "--pull", "never", `${REGISTRY}/multilayer:latest`, "true"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain("image not known");
    await b.ok(["run", "--rm", "--pull", "always", "--tls-verify=false", "-q", BB, "true"]);
    // loopback is up: a server on 127.0.0.1 answers; unprivileged ICMP is allowed like Podman does
    const none = await b.ok(["run", "--rm", "--network", "none", "--hostname", "lo-test", BB, "sh", "-c", "ls /sys/class/net; httpd -p 127.0.0.1:8080 -h /etc && wget -qO- http://127.0.0.1:8080/hostname; cat /proc/sys/net/ipv4/ping_group_range"]);
    expect(none.split("\n")).toEqual(["lo", "lo-test", "0\t0", ""]);
    const hostIfs = require("node:fs").readdirSync("/sys/class/net").sort();
    const host = (await b.ok(["run", "--rm", "--network", "host", BB, "ls", "/sys/class/net"])).trim().split("\n").sort();
    expect(host).toEqual(hostIfs);
    // --network host: the host's name and its /etc/hosts, as Podman gives them (--hostname adds its own line)
    const hn = require("node:os").hostname();
    const hostHosts = require("node:fs").readFileSync("/etc/hosts", "utf8").trimEnd();
    const h = await b.ok(["run", "--rm", "--network", "host", BB, "sh", "-c", "hostname; cat /etc/hosts"]);
    expect(h.startsWith(`${hn}\n${hostHosts}\n`)).toBe(true);
    expect(h).not.toMatch(/^127\.0\.1\.1/m);
    expect(await b.ok(["run", "--rm", "--network", "host", "--hostname", "other", "--name", "hn", BB, "sh", "-c", "hostname; grep other /etc/hosts"])).toBe("other\n127.0.1.1\tother hn\n");
  });

  test("--security-opt no-new-privileges: set for the process and for exec; unknown options refused", async () => {
    expect((await b.ok(["run", "--rm", "--network", "none", BB, "grep", "NoNewPrivs", "/proc/self/status"])).trim()).toBe("NoNewPrivs:\t0");
    await b.ok(["run", "-d", "--name", "nnp", "--network", "none", "--security-opt", "no-new-privileges", BB, "sleep", "30"]);
    expect((await b.ok(["exec", "nnp", "grep", "NoNewPrivs", "/proc/1/status"])).trim()).toBe("NoNewPrivs:\t1");
    expect((await b.ok(["exec", "nnp", "grep", "NoNewPrivs", "/proc/self/status"])).trim()).toBe("NoNewPrivs:\t1");
    // exec --privileged: every capability (Podman's default set without it)
    const capEff = async (...extra: string[]) => BigInt(`0x${(await b.ok(["exec", ...extra, "nnp", "grep", "CapEff", "/proc/self/status"])).trim().split("\t")[1]}`);
    const [plain, priv] = [await capEff(), await capEff("--privileged")];
    // rootless: every capability of the user namespace; as root: every one root has here
    const last = BigInt(Number(readFileSync("/proc/sys/kernel/cap_last_cap", "utf8")));
    const rootPrm = BigInt(`0x${/^CapPrm:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"))![1]}`);
    expect(priv).toBe(mode === "root" ? rootPrm : (1n << (last + 1n)) - 1n);
    expect(plain & priv).toBe(plain);
    expect(plain < priv).toBe(true);
    expect(JSON.parse(await b.ok(["inspect", "nnp"]))[0].HostConfig.SecurityOpt).toEqual(["no-new-privileges"]);
    await b.ok(["rm", "-f", "nnp"]);
    // seccomp=unconfined: none of tspod's filter (Seccomp 0), as Podman's; apparmor=unconfined a no-op; profiles refused
    expect((await b.ok(["run", "--rm", "--network", "none", "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined", BB, "grep", "^Seccomp:", "/proc/self/status"])).trim()).toBe("Seccomp:\t0");
    expect((await b.ok(["run", "--rm", "--network", "none", BB, "grep", "^Seccomp:", "/proc/self/status"])).trim()).toBe("Seccomp:\t2");
    await b.ok(["create", "--name", "unconf", "--security-opt", "seccomp=unconfined", "--security-opt", "no-new-privileges", BB]);
    expect(JSON.parse(await b.ok(["inspect", "unconf"]))[0].HostConfig.SecurityOpt).toEqual(["no-new-privileges", "seccomp=unconfined"]);
    await b.ok(["rm", "unconf"]);
    expectOneError(await b.run(["run", "--rm", "--security-opt", "seccomp=/etc/profile.json", BB, "true"]), /--security-opt seccomp=\/etc\/profile.json: seccomp profiles are not supported/);
    expectOneError(await b.run(["run", "--rm", "--security-opt", "apparmor=docker-default", BB, "true"]), /--security-opt apparmor=docker-default: supported are/);
  });

  test("bad input: unknown flag, bad volume, missing image, bad user: one line, Podman's exit code", async () => {
    const cases: [string[], RegExp, number][] = [
      [["run", "--no-such-flag", BB, "true"], /no-such-flag/, 125],
      [["run", "-v", "no:such:name:/x", BB, "true"], /volume/, 125],
      [["run", "-v", "/nonexistent-dir-xyz:/x", BB, "true"], /no such file/, 125],
      [["run", "--pull", "never", "nope:latest", "true"], /image not known/, 125],
      [["run", "-u", "nosuchuser", BB, "true"], /unable to find user nosuchuser/, 126],
      [["run", "-u", "0:nosuchgroup", BB, "true"], /unable to find group nosuchgroup/, 126],
      [["run", "-u", "99999999999", BB, "true"], /uids and gids must be in range 0-2147483647/, 125],
      [["run", "--name", "", BB, "true"], /invalid container name ""/, 125],
      [["run", "-u", "0:4294967296", BB, "true"], /uids and gids must be in range 0-2147483647/, 125],
      [["run", "--env-file", "/nonexistent-env-file", BB, "true"], /^Error: cannot read env file \/nonexistent-env-file: no such file or directory$/, 125],
      [["stop", "no-such-ctr"], /no such container/, 125],
      [["pod", "rm", "no-such-pod"], /no pod with name or ID "no-such-pod" found/, 1],
      [["run", "--memory", "lots", BB, "true"], /invalid size/, 125],
      // what Podman refuses at create: a volume both ro and rw, two mounts on one path, /, a relative -w, a label without a name
      [["run", "-v", "/tmp:/v:rw,ro", BB, "true"], /^Error: invalid volume "\/tmp:\/v:rw,ro": ro and rw cannot both be given$/, 125],
      [["run", "-v", "/tmp:/v", "-v", "/var/tmp:/v/", BB, "true"], /^Error: \/v: duplicate mount destination$/, 125],
      [["run", "-v", "/tmp:/v", "--tmpfs", "/v", BB, "true"], /^Error: \/v: duplicate mount destination$/, 125],
      [["run", "-v", "/tmp:/", BB, "true"], /cannot mount over the container's \//, 125],
      [["run", "-w", "relative", BB, "true"], /^Error: the working directory "relative" is invalid: it needs to be an absolute path$/, 125],
      [["run", "-l", "=v", BB, "true"], /^Error: invalid label "=v"/, 125],
      // container inspect is about containers: an image of that name is not one (inspect takes both)
      [["container", "inspect", BB], new RegExp(`^Error: no such container ${BB.replace(/\./g, "\\.")}$`), 125],
    ];
    for (const [args, re, code] of cases) {
      const r = await b.run(args);
      expect([args, r.code]).toEqual([args, code]);
      const errs = r.stderr.trim().split("\n");
      expect(errs.length).toBe(1);
      expect(errs[0]).toMatch(re);
    }
    expect(await b.ok(["ps", "-aq"])).toBe("");
    // accepted as Podman does: --pids-limit -1 or 0 (no limit: no cgroup needed), rename to its own name, rm -fv
    await b.ok(["run", "--rm", "--pids-limit", "-1", BB, "true"]);
    // -u :GID is root with that group, as Podman takes it
    expect(await b.ok(["run", "--rm", "-u", ":5", BB, "sh", "-c", "id -u; id -g"])).toBe("0\n5\n");
    await b.ok(["create", "--name", "same", BB, "true"]);
    await b.ok(["rename", "same", "same"]);
    expect(await b.ok(["rm", "-fv", "same"])).toBe("same\n");
  });
});

describe("single-id map (a user without a subuid range)", () => {
  test("containers run with only uid 0, and say so once", async () => {
    const b = box("rootless");
    const saved = readFileSync("/etc/subuid", "utf8");
    try {
      writeFileSync("/etc/subuid", saved.split("\n").filter((l) => !l.startsWith(`${ENV.TEST_USER}:`)).join("\n"));
      await b.ok(["pull", "-q", "--tls-verify=false", BB]);
      const first = await b.run(["run", "--rm", BB, "sh", "-c", "id -u; cat /proc/self/uid_map"]);
      expect(first.code).toBe(0);
      expect(first.stdout.split("\n")[0]).toBe("0");
      expect(first.stdout).toMatch(new RegExp(`^\\s+0\\s+${b.uid}\\s+1$`, "m"));
      expect(first.stderr).toContain("single-id map");
      const second = await b.run(["run", "--rm", BB, "true"]);
      expect(second.stderr).toBe("");
    } finally {
      writeFileSync("/etc/subuid", saved);
    }
  });
});

describe("a store the user cannot read (rootless)", () => {
  const b = box("rootless");
  test("ps, stats and images say so (one line, 125), not that there is nothing", async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", `${REGISTRY}/busybox:latest`]);
    await b.ok(["create", "--name", "c", `${REGISTRY}/busybox:latest`, "true"]);
    for (const [dir, cmds] of [["containers", [["ps", "-a"], ["stats", "--no-stream", "-a"]]], ["images", [["images"]]]] as const) {
      chmodSync(join(b.root, dir), 0o000);
      try {
        for (const c of cmds) expectOneError(await b.run([...c]), new RegExp(`reading the ${dir} in .*: permission denied`));
      } finally {
        chmodSync(join(b.root, dir), 0o700);
      }
    }
    expect((await b.ok(["ps", "-a", "--format", "{{.Names}}"])).trim()).toBe("c");
  });
});
