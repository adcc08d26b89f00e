// run/create flags for oclif, from the plain definitions in create-opts.ts.
import { toOclif } from "./oclif-flags.ts";
import { CREATE_FLAGS } from "./create-opts.ts";

export { createOptions } from "./create-opts.ts";
export const createFlags = toOclif(CREATE_FLAGS);
