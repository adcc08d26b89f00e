import impl from "./impl/push.ts";
import { oclifCommand } from "./oclif-flags.ts";

export default oclifCommand(impl, {
  description: "Push an image to a registry, byte for byte as it was pulled (same manifest digest)",
  examples: [
    "tspod push --tls-verify=false 127.0.0.1:5000/busybox:latest",
    "tspod push --tls-verify=false busybox 127.0.0.1:5000/mine/busybox:1.36",
    "tspod push --format v2s2 --digestfile digest.txt alpine registry.example.com/team/alpine:3",
  ],
  args: [
    { name: "image", description: "local image: name or ID", required: true },
    { name: "destination", description: "REGISTRY/REPOSITORY[:TAG] or docker://...; default: the image's name" },
  ],
});
