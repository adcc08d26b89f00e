import { Args, Command, Help as OclifHelp } from "@oclif/core";

export default class Help extends Command {
  static override description = "Show help for tspod or one of its commands";
  static override strict = false;
  static override args = { command: Args.string({ required: false, description: "command to show help for" }) };

  async run(): Promise<void> {
    const { argv } = await this.parse(Help);
    await new OclifHelp(this.config).showHelp(argv as string[]);
  }
}
