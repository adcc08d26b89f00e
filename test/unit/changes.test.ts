// --change: Containerfile instructions applied to an image config (commit), and
// the config commit makes from a container's settings.
import { describe, expect, test } from "bun:test";
import { parseChange, parseChanges, splitWords, type RunConfig } from "../../src/image/changes.ts";
import { committedRunConfig } from "../../src/image/commit.ts";
import { UsageError } from "../../src/errors.ts";
import type { Container } from "../../src/container/record.ts";
import { thrown } from "../helpers/thrown.ts";

const apply = (changes: string[], start: RunConfig = {}): RunConfig => {
  const c = structuredClone(start);
  for (const f of parseChanges(changes)) f(c);
  return c;
};

describe("splitWords", () => {
  test("blanks separate; quotes group and go; a backslash escapes", () => {
    expect(splitWords(`a "b c" 'd e' f\\ g "h\\"i"`, "x")).toEqual(["a", "b c", "d e", "f g", 'h"i']);
    expect(splitWords(`k="" x`, "x")).toEqual(["k=", "x"]);
    expect(thrown(() => splitWords(`"open`, "ENV")).message).toBe("ENV: unterminated quote");
  });
});

describe("--change", () => {
  test("CMD and ENTRYPOINT: a JSON array as it is, anything else through /bin/sh -c; an empty one clears", () => {
    expect(apply(['CMD ["a","b c"]']).Cmd).toEqual(["a", "b c"]);
    expect(apply(["CMD echo $HOME && ls"]).Cmd).toEqual(["/bin/sh", "-c", "echo $HOME && ls"]);
    expect(apply(["ENTRYPOINT=/bin/tini --"]).Entrypoint).toEqual(["/bin/sh", "-c", "/bin/tini --"]);
    expect(apply(["CMD [not json"]).Cmd).toEqual(["/bin/sh", "-c", "[not json"]);
    expect(apply(["ENTRYPOINT []"], { Entrypoint: ["x"] }).Entrypoint).toBeUndefined();
    expect(thrown(() => parseChange("CMD [1,2]")).message).toMatch(/strings only/);
  });

  test("ENV and LABEL: KEY=VALUE pairs with quotes, or the old KEY VALUE form; a later one replaces", () => {
    const c = apply(['ENV A=1 B="two words" C=', "env D four five six", "ENV A=again"], { Env: ["PATH=/bin", "A=0"] });
    // (a variable set again keeps its place)
    expect(c.Env).toEqual(["PATH=/bin", "A=again", "B=two words", "C=", "D=four five six"]);
    expect(apply(['LABEL a=1 "b c"=2', "LABEL d e f"], { Labels: { a: "0", z: "z" } }).Labels).toEqual({ a: "1", z: "z", "b c": "2", d: "e f" });
    expect(thrown(() => parseChange("ENV =x")).message).toMatch(/invalid change "ENV =x"/);
    expect(thrown(() => parseChange("ENV A")).message).toMatch(/want KEY=VALUE/);
  });

  test("EXPOSE (ranges, protocols), VOLUME (JSON or words), WORKDIR (relative to the one before), USER, STOPSIGNAL, ONBUILD", () => {
    const c = apply(["EXPOSE 80 53/udp 9000-9002/TCP", 'VOLUME ["/a","/b"]', "VOLUME /c /d", "WORKDIR /srv", "WORKDIR app/../web", "USER 1000:1000", "STOPSIGNAL SIGQUIT", "ONBUILD RUN make"]);
    expect(Object.keys(c.ExposedPorts)).toEqual(["80/tcp", "53/udp", "9000/tcp", "9001/tcp", "9002/tcp"]);
    expect(Object.keys(c.Volumes)).toEqual(["/a", "/b", "/c", "/d"]);
    expect(c.WorkingDir).toBe("/srv/web");
    expect(c.User).toBe("1000:1000");
    expect(c.StopSignal).toBe("SIGQUIT");
    expect(c.OnBuild).toEqual(["RUN make"]);
    expect(apply(["STOPSIGNAL 2"]).StopSignal).toBe("SIGINT");
    expect(apply(["STOPSIGNAL usr1"]).StopSignal).toBe("SIGUSR1");
    for (const bad of ["EXPOSE 0", "EXPOSE 70000", "EXPOSE 90-80", "EXPOSE http", "VOLUME relative", "VOLUME []", "STOPSIGNAL ki ll", "STOPSIGNAL SIGFOO", "STOPSIGNAL 999", "USER", "ONBUILD FROM x", "ONBUILD onbuild RUN x"]) {
      expect(thrown(() => parseChange(bad))).toBeInstanceOf(UsageError);
    }
  });

  test("variables: $VAR, ${VAR}, ${VAR:-word}, ${VAR:+word} from the Env at that point, \\$ a dollar; not in CMD, ENTRYPOINT, ONBUILD", () => {
    const c = apply(["ENV PATH=/opt/bin:$PATH HERE=${HOME}/x", "WORKDIR $HOME/app", "LABEL v=${VERSION:-dev} w=${HOME:+has-home}", "ENV PRICE=\\$5", "EXPOSE $PORT", "CMD echo $HOME", "USER ${NOBODY}x"], {
      Env: ["PATH=/usr/bin:/bin", "HOME=/root", "PORT=8080"],
    });
    expect(c.Env).toEqual(["PATH=/opt/bin:/usr/bin:/bin", "HOME=/root", "PORT=8080", "HERE=/root/x", "PRICE=$5"]);
    expect(c.WorkingDir).toBe("/root/app");
    expect(c.Labels).toEqual({ v: "dev", w: "has-home" });
    expect(Object.keys(c.ExposedPorts)).toEqual(["8080/tcp"]);
    expect(c.Cmd).toEqual(["/bin/sh", "-c", "echo $HOME"]);
    expect(c.User).toBe("x");
    // a value with variables is checked when applied: a bad one fails then
    const f = parseChange("EXPOSE $PORT");
    expect(thrown(() => f({ Env: ["PORT=http"] })).message).toMatch(/"http" is not a port/);
  });

  test("an unknown instruction, or none, is named in the error", () => {
    expect(thrown(() => parseChange("RUN make")).message).toBe('invalid change "RUN make": unknown instruction RUN (use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR)');
    expect(thrown(() => parseChange("   ")).message).toBe('invalid change "   ": want INSTRUCTION VALUE');
  });
});

describe("the config commit writes", () => {
  const ctr = (over: Partial<Container["config"]>): Container =>
    ({
      dir: "/nowhere",
      state: { status: "exited", pid: 0, monitorPid: 0 },
      config: {
        command: ["sh"],
        entrypoint: [],
        cmd: ["sh"],
        env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm", "container=tspod", "HOSTNAME=abc", "HOME=/root", "X=1"],
        workdir: "/",
        user: "",
        labels: {},
        mounts: [],
        stopSignal: "SIGTERM",
        ...over,
      },
    }) as unknown as Container;

  test("the image's variables and the user's own; not tspod's HOSTNAME, HOME, TERM, container=", () => {
    expect(committedRunConfig(ctr({ userEnv: ["X=1"] }), { Env: ["PATH=/bin", "LANG=C"] }, false).Env).toEqual(["PATH=/bin", "LANG=C", "X=1"]);
    // a container made before userEnv was recorded: its environment less tspod's own
    expect(committedRunConfig(ctr({}), { Env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/home/app"] }, false).Env).toEqual([
      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      "HOME=/home/app",
      "X=1",
    ]);
  });

  test("command and entrypoint as the container ran them; the default stop signal and / are not written", () => {
    const rc = committedRunConfig(ctr({ entrypoint: ["/init"], cmd: [], userEnv: [] }), { Cmd: ["old"], WorkingDir: "" }, false);
    expect(rc.Entrypoint).toEqual(["/init"]);
    expect(rc.Cmd).toBeUndefined();
    expect(rc.StopSignal).toBeUndefined();
    expect(rc.WorkingDir).toBe("");
    expect(committedRunConfig(ctr({ stopSignal: "SIGINT", workdir: "/w", userEnv: [] }), {}, false)).toMatchObject({ StopSignal: "SIGINT", WorkingDir: "/w" });
  });

  test("published and exposed ports; volumes only with --include-volumes", () => {
    const c = ctr({
      userEnv: [],
      exposedPorts: ["8443/tcp"],
      ports: [{ hostIP: "", hostPort: 8000, containerPort: 80, protocol: "tcp", range: 2 }],
      mounts: [
        { type: "bind", source: "/v/_data", destination: "/data", options: [], volume: "v" },
        { type: "bind", source: "/host", destination: "/host", options: [] },
        { type: "bind", source: "/x/_data", destination: "/anon", options: [], anonymous: true },
      ],
    });
    expect(Object.keys(committedRunConfig(c, {}, false).ExposedPorts)).toEqual(["8443/tcp", "80/tcp", "81/tcp"]);
    expect(committedRunConfig(c, {}, false).Volumes).toBeUndefined();
    expect(Object.keys(committedRunConfig(c, { Volumes: { "/img": {} } }, true).Volumes)).toEqual(["/img", "/data", "/anon"]);
  });
});
