// The lean path's flag parser: the forms it takes, and everything it hands to oclif.
import { describe, expect, test } from "bun:test";
import { parseFlags } from "../../src/cli/fast.ts";
import type { FlagDefs } from "../../src/cli/spec.ts";

const defs: FlagDefs = {
  all: { type: "boolean", char: "a", description: "" },
  quiet: { type: "boolean", char: "q", description: "" },
  last: { type: "integer", char: "n", description: "" },
  format: { type: "string", description: "" },
  filter: { type: "string", char: "f", multiple: true, description: "" },
  pull: { type: "string", options: ["always", "missing", "never"], default: "missing", description: "" },
  "tls-verify": { type: "boolean", allowNo: true, description: "" },
  env: { type: "string", char: "e", multiple: true, description: "" },
};

describe("parseFlags", () => {
  test.each<[string[], Record<string, unknown>, string[]]>([
    [[], { pull: "missing" }, []],
    [["-a"], { all: true, pull: "missing" }, []],
    [["-aq"], { all: true, quiet: true, pull: "missing" }, []],
    [["-n", "5"], { last: 5, pull: "missing" }, []],
    [["-n5"], { last: 5, pull: "missing" }, []],
    [["-an", "2"], { all: true, last: 2, pull: "missing" }, []],
    [["--format", "{{.ID}}"], { format: "{{.ID}}", pull: "missing" }, []],
    [["--format={{.ID}} x"], { format: "{{.ID}} x", pull: "missing" }, []],
    [["-f", "a=1", "--filter", "b=2", "-fc=3"], { filter: ["a=1", "b=2", "c=3"], pull: "missing" }, []],
    [["--tls-verify=false"], { "tls-verify": false, pull: "missing" }, []],
    [["--no-tls-verify"], { "tls-verify": false, pull: "missing" }, []],
    [["--tls-verify"], { "tls-verify": true, pull: "missing" }, []],
    [["--pull", "never", "img"], { pull: "never" }, ["img"]],
    [["img", "-a"], { all: true, pull: "missing" }, ["img"]],
    [["--", "-a"], { pull: "missing" }, ["-a"]],
  ])("%p", (argv, flags, positionals) => {
    expect(parseFlags(argv, defs)).toEqual({ flags, positionals });
  });

  test("stopAtPositional: everything after the first positional belongs to it", () => {
    expect(parseFlags(["-e", "A=1", "img", "id", "-u", "--all"], defs, true)).toEqual({ flags: { env: ["A=1"], pull: "missing" }, positionals: ["img", "id", "-u", "--all"] });
  });

  test.each([[["--help"]], [["--bogus"]], [["-x"]], [["-n", "five"]], [["--pull", "sometimes"]], [["--format"]], [["--all=yes"]], [["--no-all"]]])("%p goes to oclif", (argv) => {
    expect(parseFlags(argv, defs)).toBeUndefined();
  });
});

describe("goStyleBooleans (oclif's path)", () => {
  const { goStyleBooleans } = require("../../src/cli/flags.ts") as typeof import("../../src/cli/flags.ts");
  const flags = {
    noheading: { type: "boolean", char: "n" },
    "tls-verify": { type: "boolean", allowNo: true },
    rm: { type: "boolean" },
    env: { type: "option", char: "e" },
    format: { type: "option" },
  };
  test.each<[string[], boolean, string[]]>([
    // every boolean flag of the command, with or without a --no- form, long or short
    [["images", "--noheading=true"], false, ["images", "--noheading"]],
    [["images", "--noheading=false", "-n=1"], false, ["images", "--noheading"]],
    [["images", "-n=F", "--tls-verify=False"], false, ["images", "--no-tls-verify"]],
    // a value after a value-taking flag is not a flag
    [["images", "--format", "--rm=true"], false, ["images", "--format", "--rm=true"]],
    [["run", "-e", "--rm=true", "img"], true, ["run", "-e", "--rm=true", "img"]],
    // the container's command keeps its arguments; -- ends the flags
    [["run", "--rm=true", "img", "echo", "--rm=true", "-n=0"], true, ["run", "--rm", "img", "echo", "--rm=true", "-n=0"]],
    [["images", "--", "--rm=true"], false, ["images", "--", "--rm=true"]],
  ])("%j", (argv, stop, want) => {
    expect(goStyleBooleans(argv, 1, flags, stop)).toEqual(want);
  });
  test("anything else after = is refused, as Go's flag package does", () => {
    expect(() => goStyleBooleans(["images", "--noheading=busybox"], 1, flags, false)).toThrow('invalid argument "busybox" for "--noheading" flag: strconv.ParseBool: parsing "busybox": invalid syntax');
  });
});
