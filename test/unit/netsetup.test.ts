// When pasta may start at the container's first socket (net.lazy, native/lend.c):
// the spec records helperRecords writes for each kind of container.
import { afterEach, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { helperRecords, type HelperInput } from "../../src/network/setup.ts";
import type { PortMapping } from "../../src/network/ports.ts";

// what the kernel and this process allow, read here on their own (the code reads them too)
const kernelLets =
  readFileSync("/proc/sys/kernel/seccomp/actions_avail", "utf8").split(/\s+/).includes("user_notif") &&
  /^Seccomp:\s*0$/m.test(readFileSync("/proc/self/status", "utf8"));

function input(over: Partial<HelperInput> = {}): HelperInput {
  return { net: { mode: "pasta", options: [] }, helper: "/usr/bin/pasta", ports: [], dir: "/tmp/x", apiSocket: "/tmp/x.sock", rootless: true, lazy: true, ...over };
}
const lazy = (i: HelperInput) => helperRecords(i).some(([k, v]) => k === "net.lazy" && v === "1");
const tcp = (hostPort: number, hostIP = ""): PortMapping => ({ protocol: "tcp", hostIP, hostPort, containerPort: 80, range: 1 });

describe("net.lazy", () => {
  afterEach(() => {
    delete process.env.TSPOD_NET_START;
  });
  test("this machine lets the monitor answer a container's seccomp notifications (the rest means nothing without it)", () => {
    expect(kernelLets).toBe(true);
  });
  test("the default: pasta with no ports, or only lent TCP ports", () => {
    expect(lazy(input())).toBe(true);
    expect(lazy(input({ ports: [tcp(18080)] }))).toBe(true);
    expect(helperRecords(input({ ports: [tcp(18080)] })).filter(([k]) => k === "net.lend").length).toBe(1);
    // one IPv4 address of the host's: lent there (and no -T: pasta's goes to the host's loopback)
    const one = helperRecords(input({ ports: [tcp(18080, "192.0.2.7")] }));
    expect(one.filter(([k]) => k === "net.lend")).toEqual([["net.lend", "192.0.2.7\t18080\t80\t1"]]);
    expect(one.filter(([k]) => k === "net.arg").map(([, v]) => v).join(" ")).toContain("-t none -u none -T none");
    expect(lazy(input({ ports: [tcp(18080, "192.0.2.7")] }))).toBe(true);
  });
  test("with the container: a pod's infra, pasta options, ports pasta or the UDP forwarder serve, slirp4netns, TSPOD_NET_START=eager", () => {
    expect(lazy(input({ lazy: false }))).toBe(false);
    expect(lazy(input({ net: { mode: "pasta", options: ["--map-gw"] } }))).toBe(false);
    expect(lazy(input({ ports: [{ ...tcp(18080), protocol: "udp" } as PortMapping] }))).toBe(false);
    expect(lazy(input({ ports: [tcp(18080, "2001:db8::7")] }))).toBe(false); // an IPv6 host address: pasta's -t
    expect(lazy(input({ ports: [tcp(18080), { ...tcp(18081), containerPort: 80 }] }))).toBe(false); // one container port twice
    expect(lazy(input({ net: { mode: "slirp4netns", options: [] } }))).toBe(false);
    process.env.TSPOD_NET_START = "eager";
    expect(lazy(input())).toBe(false);
  });
});
