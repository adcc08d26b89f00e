// stats: read from /proc, so it works rootless on this cgroup v1 host (where
// `podman stats` fails). Checked against what the containers do: a busy loop
// uses a CPU, a shell holding 30 MB holds it, three processes are three PIDs,
// a download is network traffic.
import { beforeAll, describe, expect, test } from "bun:test";
import { cleanEach, errorLines, expectOneError, MODES, REGISTRY, sandboxes } from "../helpers/tspod.ts";

const box = sandboxes();
const BB = `${REGISTRY}/busybox:latest`;

describe.each(MODES)("stats (%s)", (mode) => {
  const b = box(mode);
  cleanEach(b);
  beforeAll(async () => {
    await b.ok(["pull", "-q", "--tls-verify=false", BB]);
  });

  test("CPU, memory, PIDs and network of running containers; one report or one per interval; JSON and templates", async () => {
    await b.ok(["run", "-d", "--name", "burn", "--network", "none", BB, "sh", "-c", "while :; do :; done"]);
    // 30 MB in a shell and in two subshells it forked: shared (copy-on-write), so 30 MB, not 90
    await b.ok(["run", "-d", "--name", "mem", "--network", "none", BB, "sh", "-c", "x=$(head -c 30000000 /dev/zero | tr '\\0' a); (sleep 120; echo $x) & (sleep 120; echo $x) & echo held; wait"]);
    // short-lived processes, one after another: their CPU counts (reaped by the shell)
    await b.ok(["run", "-d", "--name", "forks", "--network", "none", BB, "sh", "-c", "while :; do md5sum /bin/busybox >/dev/null; done"]);
    await b.ok(["run", "-d", "--name", "three", "--network", "none", BB, "sh", "-c", "sleep 120 & sleep 120 & wait"]);
    // a download from the host through the container's network (the registry, on the host's loopback)
    await b.ok(["run", "-d", "--name", "net", BB, "sh", "-c", `wget -q -O /dev/null http://host.containers.internal:${REGISTRY.split(":")[1]}/v2/; sleep 120`]);
    await b.ok(["create", "--name", "idle", BB, "true"]);
    for (let i = 0; i < 100 && !(await b.ok(["logs", "mem"])).includes("held"); i++) await Bun.sleep(100);
    await Bun.sleep(1500);
    const rows: any[] = JSON.parse(await b.ok(["stats", "--no-stream", "--format", "json"]));
    const by = Object.fromEntries(rows.map((r) => [r.name, r]));
    // running ones only (the created one is not)
    expect(Object.keys(by).sort()).toEqual(["burn", "forks", "mem", "net", "three"]);
    expect(Object.keys(by.burn).sort()).toEqual(["avg_cpu", "block_io", "cpu_percent", "cpu_time", "id", "mem_percent", "mem_usage", "name", "net_io", "pids"]);
    const num = (s: string) => Number.parseFloat(s);
    expect(num(by.burn.cpu_percent)).toBeGreaterThan(40);
    expect(num(by.three.cpu_percent)).toBeLessThan(5);
    expect(by.three.pids).toBe("3");
    expect(by.burn.pids).toBe("1");
    expect(num(by.forks.cpu_percent)).toBeGreaterThan(30);
    // the 30 MB string once (Pss), not once per process (the sum of their RSS: 90 MB)
    const memBytes = Number(await b.ok(["stats", "--no-stream", "--format", "{{.MemBytes}}", "mem"]));
    expect(memBytes).toBeGreaterThan(30e6);
    expect(memBytes).toBeLessThan(60e6);
    expect(by.mem.pids).toBe("5"); // the shell, two subshells, their sleeps
    // Podman's template fields: strings and numbers
    const t = (await b.ok(["stats", "--no-stream", "--format", "{{.ContainerID}} {{.PIDS}} {{.PIDs}} {{.MemUsageBytes}} {{.UpTime}}", "three", "three"])).trim().split("\n");
    expect(t.length).toBe(1); // (a name given twice: one row)
    expect(t[0]).toMatch(/^[0-9a-f]{64} 3 3 [\d.]+(B|KiB|MiB) \/ [\d.]+(MiB|GiB|TiB) (0s|[\d.]+(µs|ms|s))$/);
    expect(by.three.mem_usage).toMatch(/^[\d.]+[kMG]?B \/ [\d.]+[kMGT]?B$/);
    // the download: bytes in (the registry's answer) and out (the request)
    const [rx, tx] = by.net.net_io.split(" / ").map((s: string) => num(s) * (s.endsWith("kB") ? 1e3 : s.endsWith("MB") ? 1e6 : 1));
    expect(rx).toBeGreaterThan(100);
    expect(tx).toBeGreaterThan(50);
    expect(by.burn.net_io).toBe("0B / 0B"); // --network none: only loopback, which is not counted
    // a table by default, Podman's columns
    const table = (await b.ok(["stats", "--no-stream", "three"])).split("\n");
    expect(table[0]).toMatch(/^ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET IO\s+BLOCK IO\s+PIDS\s+CPU TIME\s+AVG CPU %$/);
    expect(table[1]).toMatch(/^[0-9a-f]{12}\s+three\s/);
    // streaming: a report per interval; the CPU % of the second is over that interval
    const p = Bun.spawn(b.tspodArgs(["stats", "-i", "1", "--format", "{{.Name}} {{.CPUPerc}}", "burn"]), { stdout: "pipe", stderr: "pipe" });
    await Bun.sleep(3500);
    p.kill("SIGINT");
    const reports = (await new Response(p.stdout).text()).split("\n").filter((l) => l.startsWith("burn "));
    expect(reports.length).toBeGreaterThanOrEqual(2);
    expect(num(reports[1]!.split(" ")[1]!)).toBeGreaterThan(40);
    // -a: the created one too, with nothing used
    const all = JSON.parse(await b.ok(["stats", "-a", "--no-stream", "--format", "json"]));
    expect(all.find((r: any) => r.name === "idle")).toMatchObject({ pids: "0", cpu_percent: "0.00%", mem_usage: "0B / 0B", cpu_time: "0s" });
    // a stream of a named container ends, without an error, once it has stopped; the others' go on
    await b.ok(["run", "-d", "--name", "short", "--network", "none", BB, "sleep", "2"]);
    const s2 = Bun.spawn(b.tspodArgs(["stats", "-i", "1", "--format", "{{.Name}}", "short", "three"]), { stdout: "pipe", stderr: "pipe" });
    await Bun.sleep(5000);
    expect(s2.exitCode).toBe(null); // three still runs: still reporting
    s2.kill("SIGINT");
    const out2 = await new Response(s2.stdout).text();
    expect(await new Response(s2.stderr).text()).toBe("");
    expect(out2.split("\n").filter((l) => l === "short").length).toBeGreaterThanOrEqual(1);
    expect(out2.trim().split("\n").pop()).toBe("three");
    const s3 = await b.run(["stats", "-i", "1", "short2-not-there"]);
    expect(s3.code).toBe(125);
    await b.ok(["run", "-d", "--name", "short3", "--network", "none", BB, "sleep", "2"]);
    const t0 = Date.now();
    const s4 = await b.run(["stats", "-i", "1", "--format", "{{.Name}}", "short3"]);
    expect([s4.code, s4.stderr]).toEqual([0, ""]);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  test("the host's network is not a container's: none shown for --network host, nor for one joined to it", async () => {
    await b.ok(["run", "-d", "--name", "hn", "--network", "host", BB, "sleep", "60"]);
    if (mode === "root") await b.ok(["run", "-d", "--name", "hj", "--network", "container:hn", BB, "sleep", "60"]);
    const rows = JSON.parse(await b.ok(["stats", "--no-stream", "--format", "json"]));
    expect(rows.map((r: any) => r.net_io)).toEqual(rows.map(() => "0B / 0B"));
    expect(rows.length).toBe(mode === "root" ? 2 : 1);
  });

  test("a named container that does not run or does not exist: one line, 125", async () => {
    await b.ok(["create", "--name", "stopped", BB, "true"]);
    expectOneError(await b.run(["stats", "--no-stream", "stopped"]), /stopped: the container is not running/);
    const r = await b.run(["stats", "--no-stream", "nosuch"]);
    expect([r.code, errorLines(r)]).toEqual([125, [expect.stringMatching(/no container with name or ID "nosuch" found/)]]);
    expect(await b.ok(["stats", "--no-stream", "--format", "{{.Name}}"])).toBe("");
  });
});
