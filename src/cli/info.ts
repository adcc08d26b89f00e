import impl from "./impl/info.ts";
import { oclifCommand } from "./oclif-flags.ts";

export default oclifCommand(impl, {
  description: "Show what tspod found on this host: ids, user namespaces, storage, network helpers, cgroups",
  examples: ["tspod info", "tspod info --format json", "tspod info --format '{{.Host.Rootless}}'"],
});
