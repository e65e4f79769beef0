export {
  type ClientEvents,
  type ClientState,
  DaisiClient,
  type DaisiClientOptions,
  type ErrorPayload,
  type EventMeta,
  type Position,
  type Resumed,
  type WebSocketConstructor,
  type WebSocketLike,
} from './client.js';
