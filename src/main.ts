// tspod entry point. Kept tiny: `--version` answers without loading oclif,
// everything else loads the CLI lazily so start-up stays fast.
import pjson from "../package.json" with { type: "json" };
import { takeLeadingGlobals } from "./cli/argv.ts";

const argv = takeLeadingGlobals(process.argv.slice(2));
if (argv.length === 1 && (argv[0] === "--version" || argv[0] === "-v")) {
  process.stdout.write(`tspod version ${pjson.version}\n`);
} else {
  const { runCli } = await import("./cli/oclif.ts");
  await runCli(argv);
}
