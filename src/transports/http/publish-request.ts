import { ErrorCodes, GatewayError } from '../../domain/errors.js';
import { parseSubject, subjectOf, type EventKind } from '../../domain/events.js';
import { firstIdProblem } from '../../domain/ids.js';
import { isJsonObject } from '../../domain/json.js';

const bad = (details: string) => new GatewayError(ErrorCodes.BadRequest, 'Invalid publish request', details);
const KINDS: readonly EventKind[] = ['chats', 'messages', 'agents'];

export interface PublishRequest {
  subject: string;
  payload: string;
}

/**
 * POST /api/publish: `{company_id, agent_id, kind, chat_id?, event}` or `{subject, event}`.
 * The event must be a JSON object; it is published as given.
 */
export function parsePublishRequest(body: unknown): PublishRequest {
  if (!isJsonObject(body)) throw bad('body must be a JSON object');
  const b = body as Record<string, unknown>;
  const event = b.event;
  if (!isJsonObject(event)) throw bad('event must be a JSON object');
  return { subject: subjectFrom(b), payload: JSON.stringify(event) };
}

function subjectFrom(b: Record<string, unknown>): string {
  if (b.subject !== undefined) {
    const address = typeof b.subject === 'string' ? parseSubject(b.subject) : undefined;
    if (!address)
      throw bad(
        'subject must be wa.<company>.<agent>.chats, wa.<company>.<agent>.messages.<chat_id> or ' +
          'wa.<company>.<agent>.agents',
      );
    // The same id rules as the kind form: no wildcards, separators or oversized ids in a subject.
    const problem = firstIdProblem({
      company_id: address.companyId,
      agent_id: address.agentId,
      ...(address.kind === 'messages' ? { chat_id: address.chatId } : {}),
    });
    if (problem) throw bad(problem);
    return b.subject as string;
  }
  if (!KINDS.includes(b.kind as EventKind)) throw bad('kind must be one of chats, messages, agents');
  const kind = b.kind as EventKind;
  const ids: Record<string, unknown> = { company_id: b.company_id, agent_id: b.agent_id };
  if (kind === 'messages') ids.chat_id = b.chat_id;
  const problem = firstIdProblem(ids);
  if (problem) throw bad(problem);
  return subjectOf({
    kind,
    companyId: b.company_id as string,
    agentId: b.agent_id as string,
    chatId: b.chat_id as string | undefined,
  });
}
