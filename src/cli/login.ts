import { Args, Flags } from "@oclif/core";
import { BaseCommand } from "./base.ts";
import { tlsVerifyFlag } from "./flags.ts";
import { readLine } from "./prompt.ts";
import { UsageError } from "../errors.ts";

export default class Login extends BaseCommand {
  static override description = "Log in to a registry (credentials are checked, then stored 0600 in auth.json)";
  static override examples = ["tspod login -u me quay.io", "echo $PW | tspod login -u me --password-stdin 127.0.0.1:5001 --tls-verify=false"];
  static override args = { registry: Args.string({ required: false, description: "registry host[:port] (default: the first unqualified-search registry)" }) };
  static override flags = {
    username: Flags.string({ char: "u", description: "user name" }),
    password: Flags.string({ char: "p", description: "password (prefer --password-stdin)" }),
    "password-stdin": Flags.boolean({ description: "read the password from stdin" }),
    authfile: Flags.string({ description: "auth file to use (default $XDG_RUNTIME_DIR/containers/auth.json)" }),
    "tls-verify": tlsVerifyFlag,
    "cert-dir": Flags.string({ description: "directory with the registry's CA certificates (*.crt)" }),
    "get-login": Flags.boolean({ description: "print the user name stored for the registry" }),
  };

  async run(): Promise<void> {
    const { flags, args } = await this.setup(Login);
    const auth = await import("../image/auth.ts");
    const { loadRegistriesConf, isInsecure, defaultLoginRegistry } = await import("../image/registries.ts");
    const registry = args.registry ?? defaultLoginRegistry();
    const key = auth.authKeyOf(registry);
    const opts = { authFile: flags.authfile };
    if (flags["get-login"]) {
      const c = auth.getCredentials(key, opts);
      if (!c) throw new UsageError(`not logged into ${key}`);
      return this.out(c.username);
    }
    if (flags.password !== undefined && flags["password-stdin"]) throw new UsageError("--password and --password-stdin are mutually exclusive");
    let username = flags.username;
    let password = flags.password;
    if (flags["password-stdin"]) {
      if (!username) throw new UsageError("--password-stdin needs --username");
      // every line, joined, as Podman reads it (a trailing newline or two is no part of it)
      password = (await new Response(Bun.stdin.stream()).text()).split("\n").map((l) => l.replace(/\r$/, "")).join("");
    }
    if (!username) {
      if (!process.stdin.isTTY) throw new UsageError("--username is required when stdin is not a terminal");
      process.stderr.write("Username: ");
      username = await readLine(false);
    }
    if (password === undefined) {
      if (!process.stdin.isTTY) throw new UsageError("--password or --password-stdin is required when stdin is not a terminal");
      process.stderr.write("Password: ");
      password = await readLine(true);
    }
    if (!username || !password) throw new UsageError("user name and password must not be empty");
    const { Registry } = await import("../image/registry.ts");
    const host = key.split("/")[0];
    const tlsVerify = flags["tls-verify"] ?? !isInsecure(host, loadRegistriesConf());
    await new Registry(host, { tlsVerify, creds: { username, password }, certDir: flags["cert-dir"] }).checkLogin();
    auth.setCredentials(key, username, password, opts);
    this.out("Login Succeeded!");
  }
}
