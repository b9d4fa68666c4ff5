/** Version of the WebSocket protocol spoken between gateway and clients; sent in `herald.welcome`. */
export const PROTOCOL_VERSION = 1;
