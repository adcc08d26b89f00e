// The explicit command map for oclif. Command files are thin; heavy engine
// modules are imported lazily inside run(), so this map is cheap to load.
import Help from "./help.ts";
import Info from "./info.ts";
import Version from "./version.ts";

export const COMMANDS = {
  help: Help,
  info: Info,
  version: Version,
};
