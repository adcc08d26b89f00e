// Typed errors. Nothing below src/cli prints or exits: it throws one of these,
// and the CLI turns it into one line on stderr plus a Podman-style exit code.
export class TspodError extends Error {
  /** 125 engine error, 126 cannot invoke, 127 not found, else the container's own code. */
  exitCode: number;
  constructor(message: string, exitCode = 125) {
    super(message);
    this.name = "TspodError";
    this.exitCode = exitCode;
  }
}

/**
 * The exit code for a container that did not start, from the monitor's report:
 * its process could not be set up or exec'd (stage spawn or exec): as Podman
 * says of its OCI runtime's errors, 127 for a file not found, else 126; tspod's
 * own part failing (the network, the monitor's setup): 125.
 */
export function startErrorCode(stage: string, errno: number): number {
  if (stage !== "spawn" && stage !== "exec") return 125;
  return errno === 2 ? 127 : 126;
}

/** A short name that several stored images answer to (the image exists; which one is unclear). */
export class AmbiguousNameError extends TspodError {
  constructor(message: string) {
    super(message, 125);
    this.name = "AmbiguousNameError";
  }
}

export class NotFoundError extends TspodError {
  constructor(message: string) {
    super(message, 125);
    this.name = "NotFoundError";
  }
}

export class UsageError extends TspodError {
  constructor(message: string) {
    super(message, 125);
    this.name = "UsageError";
  }
}

export function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException)?.code;
}
