// Files embedded with `import x from "..." with { type: "file" }` give their path.
declare module "*/native/out/tspod-rt" {
  const path: string;
  export default path;
}
