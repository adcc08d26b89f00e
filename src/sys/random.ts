// Random bytes from the global Web Crypto: importing node:crypto costs ~3.6 ms
// in the compiled binary (measured), on every `run`, for 32 bytes.
export function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** n random bytes as 2n hex digits (container and pod IDs). */
export function randomHex(n: number): string {
  return Buffer.from(randomBytes(n)).toString("hex");
}
