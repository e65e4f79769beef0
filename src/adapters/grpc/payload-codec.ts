import type { ForwardRequest } from '../../domain/ports.js';
import type { PushEventPayload, PushEventRequest } from './proto.js';
import { fromStruct, toStruct } from './struct.js';

const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

export function toPushEventRequest(request: ForwardRequest, sourcePodId: string): PushEventRequest {
  const p = request.payload;
  const rowData = p.row_data;
  return {
    payload: {
      event_id: str(p.event_id),
      company_id: str(p.company_id),
      agent_id: str(p.agent_id),
      message_id: str(p.message_id),
      chat_id: str(p.chat_id),
      row_data: rowData && typeof rowData === 'object' && !Array.isArray(rowData) ? toStruct(rowData as Record<string, unknown>) : null,
      event_time: str(p.event_time),
    },
    target_company_id: request.companyId,
    target_agent_id: request.agentId,
    target_chat_id: request.chatId,
    source_pod_id: sourcePodId,
  };
}

/**
 * The event JSON a forwarded event is delivered as: the seed's EnrichedEventPayload field order
 * and omitempty rules, so that a client cannot tell a forwarded event from one a Go pod sends.
 */
export function payloadJsonOf(p: PushEventPayload): string {
  const out: Record<string, unknown> = { event_id: p.event_id, event_time: p.event_time, company_id: p.company_id };
  if (p.agent_id) out.agent_id = p.agent_id;
  if (p.message_id) out.message_id = p.message_id;
  if (p.chat_id) out.chat_id = p.chat_id;
  out.row_data = fromStruct(p.row_data);
  return JSON.stringify(out);
}
