import impl from "./impl/commit.ts";
import { oclifCommand } from "./oclif-flags.ts";

export default oclifCommand(impl, {
  description: "Make an image of a container's changes: one layer on top of its image, with the container's command, environment and settings",
  aliases: ["container:commit"],
  examples: [
    "tspod commit web localhost/web:v2",
    "tspod commit -c 'CMD [\"/bin/httpd\",\"-f\"]' -c 'EXPOSE 80' -m 'site added' web web:v2",
    "tspod commit -q --pause db",
  ],
  args: [
    { name: "container", description: "container name or ID", required: true },
    { name: "image", description: "name of the new image (default: none, a dangling image)" },
  ],
});
