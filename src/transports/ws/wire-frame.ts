/**
 * A message as a server sends it on the wire (RFC 6455 §5.2): FIN, the text opcode, no mask,
 * the length in 1, 3 or 9 bytes, then the message. An event goes to every session of the pod
 * that wants it; made here once per message and written as it is to every plain connection (no
 * compression), it spares `ws` a header buffer, a frame list and two writes per recipient — the
 * broadcast path of a real-time gateway, as gorilla/websocket's PreparedMessage does for Go.
 */
export function wireFrameOf(message: Buffer): Buffer {
  if (message === lastMessage) return lastWire;
  const length = message.length;
  const head = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const wire = Buffer.allocUnsafe(head + length);
  wire[0] = 0x81; // FIN, text
  if (head === 2) wire[1] = length;
  else if (head === 4) {
    wire[1] = 126;
    wire.writeUInt16BE(length, 2);
  } else {
    wire[1] = 127;
    wire.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    wire.writeUInt32BE(length >>> 0, 6);
  }
  message.copy(wire, head);
  // The dispatcher hands one event's message to its recipients one after another: the last one
  // made is the one asked for next.
  lastMessage = message;
  lastWire = wire;
  return wire;
}

let lastMessage: Buffer | undefined;
let lastWire = Buffer.alloc(0);
