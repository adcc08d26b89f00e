import impl from "./impl/ps.ts";
import { oclifCommand } from "./oclif-flags.ts";

export default oclifCommand(impl, {
  description: "List containers (running ones; -a for all)",
  aliases: ["container:ls", "container:list", "container:ps"],
});
