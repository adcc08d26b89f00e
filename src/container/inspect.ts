// `inspect` for containers, in the shape Podman prints.
import type { Context } from "../context.ts";
import { ContainerStore, userMounts, type Container } from "./record.ts";
import { join } from "node:path";
import { portBindings } from "../network/ports.ts";
import { mapOrNil } from "../gonil.ts";
import { DEFAULT_CAPS, inspectCaps } from "./caps.ts";

export function inspectContainer(ctx: Context, c: Container) {
  const s = c.state, cfg = c.config;
  // a container sharing another's network (container:ID, a pod member) shows that one's ports and addresses
  const owner = cfg.network.startsWith("container:") ? new ContainerStore(ctx).load(cfg.network.slice(10))?.config : undefined;
  const net = owner ?? cfg;
  const mounts = userMounts(c);
  const binds = mounts.filter((m) => m.type === "bind");
  const ro = (o: string[]) => o.includes("ro");
  const nocopy = (m: { options: string[] }) => m.options.filter((o) => o === "nocopy");
  const caps = inspectCaps(cfg.caps ?? DEFAULT_CAPS, cfg.capAdd ?? [], cfg.user);
  return {
    Id: cfg.id,
    Created: cfg.created,
    Path: cfg.command[0],
    Args: cfg.command.slice(1),
    State: {
      Status: s.status,
      Running: s.status === "running",
      Paused: s.status === "paused",
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: s.pid,
      ConmonPid: s.monitorPid,
      ExitCode: s.exitCode ?? 0,
      Error: s.error ?? "",
      StartedAt: s.startedAt ?? "0001-01-01T00:00:00Z",
      FinishedAt: s.finishedAt ?? "0001-01-01T00:00:00Z",
    },
    Image: cfg.image.id,
    ImageName: cfg.image.name,
    Rootfs: "",
    Name: cfg.name,
    RestartCount: 0,
    Driver: cfg.driver,
    MountLabel: "",
    ProcessLabel: "",
    EffectiveCaps: caps.effective,
    BoundingCaps: caps.bounding,
    LogPath: join(c.dir, "ctr.log"),
    HostnamePath: join(c.dir, "userdata/hostname"),
    HostsPath: join(c.dir, "userdata/hosts"),
    ResolvConfPath: join(c.dir, "userdata/resolv.conf"),
    GraphDriver: { Name: cfg.driver, Data: { UpperDir: join(c.dir, "upper"), WorkDir: join(c.dir, "work"), MergedDir: join(c.dir, "merged") } },
    // Podman's shapes: binds in Mounts and HostConfig.Binds; tmpfs (--tmpfs, --read-only's) in HostConfig.Tmpfs only
    // (a named volume's: Type volume, its name and driver, as Podman shows them)
    Mounts: binds.map((m) =>
      m.volume
        ? { Type: "volume", Name: m.volume, Source: m.source, Destination: m.destination, Driver: "local", Mode: "", Options: [...nocopy(m), "nosuid", "nodev", "rbind"], RW: !ro(m.options), Propagation: "rprivate" }
        : { Type: "bind", Source: m.source, Destination: m.destination, Driver: "", Mode: "", Options: ["rbind"], RW: !ro(m.options), Propagation: "rprivate" },
    ),
    Config: {
      Hostname: cfg.hostname,
      User: cfg.user,
      Env: cfg.env,
      Cmd: cfg.cmd,
      Entrypoint: cfg.entrypoint,
      Image: cfg.image.name,
      WorkingDir: cfg.workdir,
      Labels: mapOrNil(cfg.labels),
      Tty: cfg.tty,
      OpenStdin: cfg.interactive,
      StopSignal: cfg.stopSignal,
      StopTimeout: cfg.stopTimeout,
    },
    NetworkSettings: {
      EndpointID: "",
      Gateway: net.netAddresses?.gateway ?? "",
      IPAddress: net.netAddresses?.ip ?? "",
      IPPrefixLen: net.netAddresses?.prefixLen ?? 0,
      // Podman's fields (IPv6 is not configured by tspod's networks)
      IPv6Gateway: "",
      GlobalIPv6Address: "",
      GlobalIPv6PrefixLen: 0,
      MacAddress: "",
      Bridge: "",
      SandboxID: "",
      HairpinMode: false,
      LinkLocalIPv6Address: "",
      LinkLocalIPv6PrefixLen: 0,
      SandboxKey: s.status === "running" && !cfg.network.startsWith("container:") && cfg.network !== "host" ? `/proc/${s.pid}/ns/net` : "",
      HostGateway: net.netAddresses?.hostGateway ?? "",
      DNS: net.netAddresses?.dns ?? "",
      Ports: portBindings(net.ports, cfg.exposedPorts),
    },
    Pod: cfg.pod ?? "",
    HostConfig: {
      AutoRemove: cfg.autoRemove,
      Binds: binds.map((m) =>
        m.volume
          ? `${m.volume}:${m.destination}:${[ro(m.options) ? "ro" : "rw", ...nocopy(m), "rprivate", "nosuid", "nodev", "rbind"].join(",")}`
          : `${m.source}:${m.destination}:${[ro(m.options) ? "ro" : "rw", ...m.options.filter((o) => o !== "ro" && o !== "rw"), "rprivate", "rbind"].join(",")}`,
      ),
      // the options given (not tspod's nosuid, nodev, mode=1777), then what every tmpfs has, as Podman lists them
      Tmpfs: Object.fromEntries(
        mounts.filter((m) => m.type === "tmpfs").map((m) => [m.destination, [...m.options.filter((o) => !["nosuid", "nodev", "mode=1777"].includes(o)), "rw", "rprivate", "nosuid", "nodev", "tmpcopyup"].join(",")]),
      ),
      PortBindings: portBindings(cfg.ports),
      NetworkOptions: cfg.networkOptions ?? [],
      ReadonlyRootfs: cfg.readOnly,
      CapAdd: caps.capAdd,
      CapDrop: caps.capDrop,
      SecurityOpt: [...(cfg.noNewPrivileges ? ["no-new-privileges"] : []), ...(cfg.seccompUnconfined ? ["seccomp=unconfined"] : []), ...(cfg.apparmorUnconfined ? ["apparmor=unconfined"] : [])],
      NetworkMode: cfg.network,
      Dns: cfg.dns ?? [],
      DnsSearch: cfg.dnsSearch ?? [],
      DnsOptions: cfg.dnsOptions ?? [],
      ExtraHosts: cfg.extraHosts ?? [],
      PublishAllPorts: false,
      Init: cfg.init,
      Memory: cfg.resources.memory ?? 0,
      NanoCpus: cfg.resources.cpus ? cfg.resources.cpus * 1e9 : 0,
      PidsLimit: cfg.resources.pidsLimit ?? 0,
    },
    IsInfra: !!cfg.infra,
    Rootless: ctx.rootless,
  };
}
