import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { TspodError } from "../errors.ts";

export default class Logout extends BaseCommand {
  static override description = "Remove stored credentials for a registry";
  static override args = { registry: Args.string({ required: false, description: "registry host[:port] (default: the first unqualified-search registry)" }) };
  static override flags = {
    all: Flags.boolean({ char: "a", description: "remove all credentials" }),
    authfile: Flags.string({ description: "auth file to use" }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.setup(Logout);
    const auth = await import("../image/auth.ts");
    const opts = { authFile: flags.authfile };
    if (flags.all) {
      auth.removeAll(opts);
      return this.out("Removed login credentials for all registries");
    }
    const registry = args.registry ?? (await import("../image/registries.ts")).defaultLoginRegistry();
    const key = auth.authKeyOf(registry);
    if (!auth.removeCredentials(key, opts)) throw new TspodError(`not logged into ${key}`);
    this.out(`Removed login credentials for ${key}`);
  }
}
