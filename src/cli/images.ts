import impl from "./impl/images.ts";
import { oclifCommand } from "./oclif-flags.ts";

export default oclifCommand(impl, {
  description: "List images in local storage",
  aliases: ["image:ls", "image:list"],
  args: [{ name: "image", description: "show only images with this name (a pattern, as --filter reference=)" }],
  examples: ["tspod images", "tspod images -q", "tspod images --filter dangling=true", "tspod images busybox", "tspod images --format '{{.Repository}}:{{.Tag}}'"],
});
