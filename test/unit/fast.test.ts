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
