import impl from "./impl/run.ts";
import { oclifCommand } from "./oclif-flags.ts";

export default oclifCommand(impl, {
  description: "Run a command in a new container",
  aliases: ["container:run"],
  strict: false,
  examples: [
    "tspod run --rm busybox echo hi",
    "tspod run -it busybox sh",
    "tspod run -d --name web -v $PWD:/www:ro busybox httpd -f -h /www",
  ],
  args: [
    { name: "image", description: "image", required: true },
    { name: "command", description: "command and arguments" },
  ],
});
