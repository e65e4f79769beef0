import type { PushEventPayload } from './proto.js';
import { fromStruct } from './struct.js';

/**
 * The event JSON an event pushed by a Go replica is delivered as (when this pod did not read it
 * itself): the Go service's EnrichedEventPayload field order and omitempty rules, as a Go pod sends it.
 */
export function payloadJsonOf(p: PushEventPayload): string {
  const out: Record<string, unknown> = { event_id: p.event_id, event_time: p.event_time, company_id: p.company_id };
  if (p.agent_id) out.agent_id = p.agent_id;
  if (p.message_id) out.message_id = p.message_id;
  if (p.chat_id) out.chat_id = p.chat_id;
  out.row_data = fromStruct(p.row_data);
  return JSON.stringify(out);
}
