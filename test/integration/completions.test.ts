// The committed completion scripts are what the binary generates, and bash completion works.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { binary, TOP } from "../helpers/tspod.ts";

test.each([["bash", "tspod.bash"], ["zsh", "_tspod"], ["fish", "tspod.fish"]])("completions/%s is up to date", (shell, file) => {
  const r = Bun.spawnSync([binary(), "completion", shell], { stdout: "pipe" });
  expect(r.exitCode).toBe(0);
  expect(readFileSync(join(TOP, "completions", file), "utf8")).toBe(r.stdout.toString());
});

test("bash completion offers commands, subcommands and flags", () => {
  const script = `source ${join(TOP, "completions/tspod.bash")}
c() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _tspod; echo "\${COMPREPLY[*]}"; }
c tspod ru; c tspod image ex; c tspod run --rea; c tspod ps -`;
  const r = Bun.spawnSync(["bash", "-c", script], { stdout: "pipe", stderr: "pipe" });
  const lines = r.stdout.toString().split("\n");
  expect(lines[0]).toBe("run");
  expect(lines[1]).toBe("exists");
  expect(lines[2]).toBe("--read-only --read-only-tmpfs");
  expect(lines[3].split(" ")).toContain("-a");
});
