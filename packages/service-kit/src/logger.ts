import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * Keys whose values are PHI or secrets. Logs must never carry them, wherever they are nested,
 * so each is redacted at the top level and up to three levels deep.
 */
const SENSITIVE_KEYS = [
  'firstname',
  'lastname',
  'middlename',
  'name',
  'phone',
  'phoneNumber',
  'mobile',
  'email',
  'dateOfBirth',
  'dob',
  'birthDate',
  'address',
  'text',
  'body',
  'messageBody',
  'password',
  'token',
  'accessToken',
  'refreshToken',
  'secret',
  'authorization',
  'cookie',
  'x-access-token',
  'x-internal-identity',
];

function redactPaths(): string[] {
  const paths: string[] = [];
  for (const key of SENSITIVE_KEYS) {
    const segment = /^[A-Za-z_$][\w$]*$/.test(key) ? key : `["${key}"]`;
    const join = (prefix: string) => (segment.startsWith('[') ? `${prefix}${segment}` : `${prefix}.${segment}`);
    paths.push(segment.startsWith('[') ? `${segment}` : segment, join('*'), join('*.*'), join('*.*.*'));
  }
  return paths;
}

/** Options for {@link createLogger}. */
export interface LoggerConfig {
  service: string;
  level?: string;
  /** Where to write; defaults to stdout. Tests pass a stream to inspect output. */
  destination?: NodeJS.WritableStream;
}

/** The platform's pino logger: JSON lines, service name on every line, PHI and secrets redacted. */
export function createLogger(config: LoggerConfig): Logger {
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    base: { service: config.service },
    redact: { paths: redactPaths(), censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: {
      // The path without its query: queries carry search terms such as names and phone numbers.
      req: (request: { method?: string; url?: string; ip?: string; socket?: { remoteAddress?: string } }) => ({
        method: request.method,
        url: request.url?.split('?')[0],
        remoteAddress: request.ip ?? request.socket?.remoteAddress,
      }),
      err: pino.stdSerializers.err,
    },
    formatters: { level: (label) => ({ level: label }) },
  };
  return config.destination ? pino(options, config.destination as pino.DestinationStream) : pino(options);
}

export type { Logger };
