// Writes src/cli/manifest.gen.json: oclif's command manifest, computed once at
// build time instead of at every start (measured: 4-10 ms per invocation).
import { Plugin } from "@oclif/core";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import pjson from "../package.json" with { type: "json" };
import { COMMANDS } from "../src/cli/commands.ts";

const plugin = new Plugin({ root: "/", pjson: pjson as any, isRoot: true, ignoreManifest: true });
(plugin as any).commandCache = COMMANDS;
await plugin.load();
writeFileSync(join(import.meta.dir, "../src/cli/manifest.gen.json"), JSON.stringify((plugin as any).manifest) + "\n");
