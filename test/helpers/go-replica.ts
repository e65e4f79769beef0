import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { PushEventRequest } from '../../src/transports/grpc/proto.js';
import { toStruct } from '../../src/transports/grpc/struct.js';
import { isJsonObject } from '../../src/domain/json.js';

const PROTO = new URL('../../proto/', import.meta.url).pathname;
const str = (v: unknown): string => (typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v));

/** The PushEventRequest a Go replica builds from an event it read (its forwarder adapter). */
export function pushRequestOf(
  target: { companyId: string; agentId: string; chatId: string },
  p: Record<string, unknown>,
  sourcePodId: string,
): PushEventRequest {
  const rowData = p.row_data;
  return {
    payload: {
      event_id: str(p.event_id),
      company_id: str(p.company_id),
      agent_id: str(p.agent_id),
      message_id: str(p.message_id),
      chat_id: str(p.chat_id),
      row_data: isJsonObject(rowData) ? toStruct(rowData) : null,
      event_time: str(p.event_time),
    },
    target_company_id: target.companyId,
    target_agent_id: target.agentId,
    target_chat_id: target.chatId,
    source_pod_id: sourcePodId,
  };
}

/** A PushEvent client built from proto/dws_message_fwd.proto, as a Go replica has. */
export class GoReplicaClient {
  private readonly client: any;

  constructor(address: string) {
    const def = protoLoader.loadSync('dws_message_fwd.proto', {
      keepCase: true,
      defaults: true,
      enums: String,
      includeDirs: [PROTO],
    });
    const pkg = grpc.loadPackageDefinition(def) as any;
    this.client = new pkg.dws_message_fwd.MessageForwardingService(address, grpc.credentials.createInsecure());
  }

  push(request: PushEventRequest): Promise<{ success: boolean; message: string }> {
    return new Promise((resolve, reject) =>
      this.client.PushEvent(
        request,
        new grpc.Metadata(),
        { deadline: Date.now() + 5000 },
        (err: Error | null, res: { success: boolean; message: string }) => (err ? reject(err) : resolve(res)),
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}
