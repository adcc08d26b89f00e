import impl from "./impl/pull.ts";
import { oclifCommand } from "./oclif-flags.ts";

export default oclifCommand(impl, {
  description: "Pull an image from a registry",
  examples: ["tspod pull busybox", "tspod pull --tls-verify=false 127.0.0.1:5000/busybox:latest", "tspod pull --platform linux/arm64 alpine", "tspod pull --authfile ./auth.json 127.0.0.1:5001/busybox"],
  args: [{ name: "image", description: "image reference (several: pulled in turn)", required: true }],
  strict: false,
});
