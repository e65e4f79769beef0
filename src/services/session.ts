import type { GatewayError } from '../domain/errors.js';
import type { Identity } from '../domain/session.js';
import type { DeliveryPosition } from './delivery-position.js';

/** The frames a session is sent outside its send queue's bound and drop policy. */
export type ProtocolFrame = 'event' | 'resumed' | 'error' | 'ready' | 'refreshed' | 'chat_selected';

/** What the services see of one live connection. */
export interface Session {
  /** Unique per connection: two connections of one user have the same key, never the same id. */
  readonly id: number;
  readonly identity: Identity;
  readonly key: string;
  /** The chat whose message events this session receives (users only). */
  chatId: string | undefined;
  /** When the connection opened (ms). */
  readonly connectedAt: number;
  /** Last time the session did something (frame in, event out), for the adaptive TTLs. */
  lastActivityMs: number;
  /** What it was sent, and the replay it may be running. */
  readonly position: DeliveryPosition;
  readonly isOpen: boolean;
  /** Queues a live frame within the send queue's bounds (app.websocket_message_buffer_size, …_max_queued_bytes). */
  deliver(frame: Buffer): void;
  /**
   * Undefined while the socket takes frames at once; otherwise a promise that settles once the
   * frames waiting for the socket have gone (or the session closed). A replay writes only then.
   */
  whenWritable(): Promise<void> | undefined;
  /**
   * Queues a frame outside the send queue's bound and drop policy: the protocol's own frames, and
   * replayed events (which wait for whenWritable, so they never pile up).
   */
  sendUnbounded(frame: Buffer, type: ProtocolFrame): void;
  /** Sends the error frame, then closes with the error's close code. */
  terminate(error: GatewayError): void;
}
