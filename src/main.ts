// tspod entry point. Kept tiny: `--version` answers without loading oclif; the
// hot commands take the lean path (cli/fast.ts) when their arguments parse
// cleanly; everything else, help and parse errors go through oclif, loaded lazily.
import pjson from "../package.json" with { type: "json" };
import { takeLeadingGlobals } from "./cli/argv.ts";

const argv = takeLeadingGlobals(process.argv.slice(2));
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
  // Bun.write: process.stdout would cost ~4.5 ms to set up (see output.ts)
  await Bun.write(Bun.stdout, `tspod version ${pjson.version}\n`);
} else {
  const { tryFast } = await import("./cli/fast.ts");
  if (!(await tryFast(argv))) {
    const { runCli } = await import("./cli/oclif.ts");
    await runCli(argv);
  }
}
