import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** proto/ at the package root, both from src/ (tsx) and from dist/ (compiled). */
export const PROTO_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'proto');

const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
};

export const packageDefinition = protoLoader.loadSync(
  ['dws_message_fwd.proto', 'grpc/health/v1/health.proto'],
  LOADER_OPTIONS,
);

interface LoadedPackages {
  dws_message_fwd: { MessageForwardingService: grpc.ServiceClientConstructor };
  grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
}

export const packages = grpc.loadPackageDefinition(packageDefinition) as unknown as LoadedPackages;

export interface ProtoStruct {
  fields?: Record<string, ProtoValue>;
}

export interface ProtoValue {
  kind?: string;
  nullValue?: string | number;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: { values?: ProtoValue[] };
}

export interface PushEventPayload {
  event_id: string;
  company_id: string;
  agent_id: string;
  message_id: string;
  chat_id: string;
  row_data: ProtoStruct | null;
  event_time: string;
}

export interface PushEventRequest {
  payload: PushEventPayload | null;
  target_company_id: string;
  target_agent_id: string;
  target_chat_id: string;
  source_pod_id: string;
}

export interface PushEventResponse {
  success: boolean;
  message: string;
}
