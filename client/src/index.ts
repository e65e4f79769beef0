export {
  type ChatSelected,
  type ClientEvents,
  type ClientState,
  DaisiClient,
  type DaisiClientOptions,
  type ErrorPayload,
  type EventMeta,
  type Position,
  type Resumed,
  type StateChange,
  type WebSocketConstructor,
  type WebSocketLike,
} from './client.js';
