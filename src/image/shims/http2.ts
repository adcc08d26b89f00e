// undici's own fallback when node:http2 is unavailable (client-h2.js): tspod's
// agents never set allowH2, so HTTP/2 is never negotiated and nothing else of
// node:http2 (~9 ms to load in the compiled binary, measured) is used.
export const constants = {};
export default { constants };
