import { pino, type Logger as PinoLogger, type DestinationStream } from 'pino';

/** The process's root logger (pino): what the CLI makes, flushes and hands on as the domain's Logger. */
export type RootLogger = PinoLogger;

/**
 * One JSON line per event worth knowing. Field names follow the Go service (timestamp, level,
 * message, service, request_id, event_id, user_id, company_id, agent_id) so existing log
 * queries keep working. Secrets never reach a line: known secret fields are redacted, and
 * URLs are logged as paths only (a /ws query string carries the token and the API key).
 */
export const REDACTED_PATHS = [
  'token',
  'api_key',
  'apiKey',
  'secret',
  'password',
  '*.token',
  '*.api_key',
  '*.secret',
  '*.password',
  'headers["x-api-key"]',
  'config.auth.secret_token',
  'config.auth.admin_secret_token',
  'config.auth.token_aes_key',
  'config.auth.admin_token_aes_key',
  'config.auth.token_generation_secret',
  'config.redis.password',
  // Errors are logged whole (type, message, stack); a Redis client's error can carry the command
  // it failed on, arguments included.
  'err.command',
  'err.args',
];

/** `base`: the fields of every line (service, version). */
export function createLogger(
  level: string,
  base: { service: string; version?: string },
  destination?: DestinationStream,
): RootLogger {
  return pino(
    {
      level,
      messageKey: 'message',
      base,
      timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
