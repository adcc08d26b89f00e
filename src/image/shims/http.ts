// What undici takes from node:http, without loading Bun's node:http (~7 ms in the
// compiled binary, measured; see scripts/build.ts). undici only compares a stream's
// class with IncomingMessage (never true for the streams tspod gives it) and reads
// the default maxHeaderSize (Node's 16 KiB).
export class IncomingMessage {}
export const maxHeaderSize = 16384;
export default { IncomingMessage, maxHeaderSize };
