// The flags pull and push share for reaching a registry, and what they check.
import type { FlagDefs } from "./spec.ts";
import { TspodError } from "../errors.ts";

export const REGISTRY_FLAGS: FlagDefs = {
  "tls-verify": { type: "boolean", allowNo: true, description: "require HTTPS and verify certificates (--tls-verify=false allows plain HTTP)" },
  creds: { type: "string", description: "USER[:PASSWORD] for the registry" },
  authfile: { type: "string", description: "credentials file to use (instead of auth.json's usual places)" },
  "cert-dir": { type: "string", description: "directory with the registry's CA certificates (*.crt)" },
};

/** --creds parsed (asking for a missing password), after checking that --authfile, if given, exists. */
export async function registryCreds(flags: Record<string, any>): Promise<{ username: string; password: string } | undefined> {
  if (flags.authfile) {
    // as Podman: an auth file named but missing is an error, not "no credentials"
    try {
      (await import("node:fs")).statSync(flags.authfile);
    } catch (e) {
      throw new TspodError(`checking authfile: stat ${flags.authfile}: ${(e as any)?.code === "ENOENT" ? "no such file or directory" : (e as Error).message}`);
    }
  }
  return flags.creds ? await (await import("./prompt.ts")).parseCreds(flags.creds) : undefined;
}
