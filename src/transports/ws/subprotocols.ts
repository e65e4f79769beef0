// The WebSocket subprotocols a pod speaks (docs/protocol.md, *WebSocket*).
/** The Go service's, which its clients offer. */
export const SUBPROTOCOL = 'json.v1';
/**
 * json.v1 and more, for clients that offer it (the SDK): a refused handshake is an upgrade closed with
 * an error frame and a close code a browser can read (an HTTP 401 before the upgrade is only a 1006
 * there), and a `select_chat` is answered with `chat_selected` (docs/protocol.md, *WebSocket*).
 */
export const SUBPROTOCOL_V2 = 'json.v2';
