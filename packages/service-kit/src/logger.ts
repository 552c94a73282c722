import { trace } from '@opentelemetry/api';
import { tracingEnabled } from '@pep/bus';
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

const CENSOR = '[redacted]';

// A URL (with a scheme) or a path, followed by its query or fragment: search terms, vendors' form fields and link
// tokens travel there, so a logged URL keeps its path only.
const URL_WITH_QUERY = /((?:\b[a-z][a-z\d+.-]*:\/\/[^\s/?#"'<>]+)(?:\/[^\s?#"'<>]*)?|\/[^\s?#"'<>]*)[?#][^\s"'<>]*/gi;

/**
 * How drivers and parsers quote the data they failed on, and what each becomes. Postgres: `Key (phone)=(+1…) already
 * exists`, `Failing row contains (…)`, `invalid input syntax for type uuid: "…"`; Prisma: the call's arguments, values in
 * double quotes; V8's JSON.parse: `"{"firstname": …" is not valid JSON`; zod 3 and others: `received 'Ada'`.
 */
const QUOTED_DATA: Array<[RegExp, string | ((match: string, ...groups: unknown[]) => string)]> = [
  [/(Key \([^)\n]*\)=)\(.*\)/g, `$1(${CENSOR})`],
  [/(Failing row contains )\(.*\)/g, `$1(${CENSOR})`],
  [/".*"(?=(?:\.\.\.)? is not valid JSON)/g, `"${CENSOR}"`],
  // Double-quoted strings, except object keys (JSON-like messages keep their shape), the names of database objects and
  // of token claims (jose: `"exp" claim timestamp check failed`).
  [
    /([{,]\s*|\b(?:column|relation|constraint|table|index|schema|sequence) )?"(?:[^"\\\n]|\\.)*"(\s*:)?/g,
    (quoted: string, ...groups: unknown[]) => {
      const [before, colon, offset, text] = groups as [string | undefined, string | undefined, number, string];
      const key = before !== undefined && /^[{,]/.test(before) && colon !== undefined;
      const identifier = (before !== undefined && /^\w/.test(before)) || text.startsWith(' claim', offset + quoted.length);
      return key || identifier ? quoted : `${before ?? ''}"${CENSOR}"${colon ?? ''}`;
    },
  ],
  // Single quotes only where they open a value, not in words such as can't.
  [/(^|[\s:=(,[])'[^'\n]*'(?![A-Za-z])/g, `$1'${CENSOR}'`],
];

/** Keys under which services log an error's text (besides `err`, which has its own serializer). */
const ERROR_KEYS = new Set(['error', 'errors', 'cause', 'reason', 'detail']);

// Contact details have shapes of their own, whatever field or message carries them (a vendor's error names the number
// or address it refused): e-mail addresses, E.164 numbers and North American numbers written with separators.
const CONTACT_DETAILS = [
  /[\w.+-]+@(?:[a-z\d-]+\.)+[a-z]{2,}\b/gi,
  /(?<![\w+-])\+\d{8,15}(?![\w-])/g,
  /(?<![\w-])(?:\(\d{3}\)\s?|\d{3}[\s.-])\d{3}[\s.-]\d{4}(?![\w-])/g,
];

/** A string as it may be logged anywhere: URLs without their query, contact details replaced. */
function scrubText(text: string): string {
  let scrubbed = text.replace(URL_WITH_QUERY, '$1');
  for (const pattern of CONTACT_DETAILS) scrubbed = scrubbed.replace(pattern, CENSOR);
  return scrubbed;
}

/** An error's text as it may be logged: URLs without their query, contact details and values quoted by drivers replaced. */
export function scrubErrorText(text: string): string {
  let scrubbed = scrubText(text);
  for (const [pattern, replacement] of QUOTED_DATA) {
    scrubbed = typeof replacement === 'string' ? scrubbed.replace(pattern, replacement) : scrubbed.replace(pattern, replacement);
  }
  return scrubbed;
}

const MAX_DEPTH = 8;
/** The prototype pino's serialized errors inherit their fields from. */
const SERIALIZED_ERROR = Object.getPrototypeOf(pino.stdSerializers.err(new Error())) as object;

/**
 * A copy of a logged value fit for the log: every string loses URL queries, errors become pino's serialized form with
 * every string scrubbed of quoted data, and so does everything under `inError` (a value logged as an error's text).
 */
function sanitize(value: unknown, inError: boolean, seen: WeakSet<object>, depth: number): unknown {
  if (typeof value === 'string') return inError ? scrubErrorText(value) : scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof URL) return scrubText(value.href);
  if (seen.has(value) || depth > MAX_DEPTH) return '[omitted]';
  seen.add(value);
  try {
    if (value instanceof Error) return sanitize(pino.stdSerializers.err(value), true, seen, depth + 1);
    if (Array.isArray(value)) return value.map((item) => sanitize(item, inError, seen, depth + 1));
    const prototype = Object.getPrototypeOf(value) as object | null;
    // pino's serialized errors inherit their fields from a prototype; other class instances (dates, buffers) stay as they are.
    const plain = prototype === null || prototype === Object.prototype || prototype === SERIALIZED_ERROR;
    if (!plain) return value;
    const copy: Record<string, unknown> = {};
    for (const key in value) {
      copy[key] = sanitize((value as Record<string, unknown>)[key], inError || ERROR_KEYS.has(key), seen, depth + 1);
    }
    return copy;
  } finally {
    seen.delete(value);
  }
}

/** An error (or whatever was logged as `err`), serialized and scrubbed of queries and quoted data. */
function serializeError(error: unknown): unknown {
  return sanitize(error, true, new WeakSet(), 0);
}

/** What the `req` serializer reads of a Fastify request (or a bare Node request). */
interface LoggedRequest {
  method?: string;
  url?: string;
  ip?: string;
  socket?: { remoteAddress?: string };
  routeOptions?: { url?: string };
}

// Ids are kept in logged paths so a request can be traced to its record; every other value a path carries (a reset
// token, a name a client put where an id belongs) is not.
const ID_SEGMENT = /^(?:[\da-f]{8}-[\da-f]{4}-[\da-f]{4}-[\da-f]{4}-[\da-f]{12}|[\da-f]{24}|\d{1,6})$/i;

/**
 * The path of a request as logged: the route it matched, with each parameter's value when it is an id and the
 * parameter's name (`:token`) otherwise; wildcard parts keep their id segments and show `*` for the rest. A request that
 * matched no route shows `*` for each segment that is not an id. Never the query.
 */
export function loggablePath(request: LoggedRequest): string | undefined {
  const path = request.url?.split(/[?#]/)[0];
  if (path === undefined) return undefined;
  const actual = path.split('/');
  const pattern = request.routeOptions?.url?.split('/');
  const idOrStar = (segment: string) => (ID_SEGMENT.test(segment) || segment === '' ? segment : '*');
  if (!pattern) return actual.map(idOrStar).join('/');
  const logged: string[] = [];
  for (const [index, part] of pattern.entries()) {
    const value = actual[index] ?? '';
    if (part === '*') {
      logged.push(...actual.slice(index).map(idOrStar));
      break;
    }
    if (part.startsWith(':')) logged.push(ID_SEGMENT.test(value) ? value : part.replace(/\?$/, ''));
    else logged.push(part);
  }
  return logged.join('/');
}

/** The active span's trace and span ids, as log fields. */
function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** Options for {@link createLogger}. */
export interface LoggerConfig {
  service: string;
  level?: string;
  /** Where to write; defaults to stdout. Tests pass a stream to inspect output. */
  destination?: NodeJS.WritableStream;
}

/**
 * The platform's pino logger: JSON lines, service name on every line, PHI and secrets redacted by key, URLs in any field
 * or message without their query, request paths as routes (ids kept, other values not), errors scrubbed of the values
 * drivers quote in them.
 */
export function createLogger(config: LoggerConfig): Logger {
  const serializers = {
    req: (request: LoggedRequest) => ({
      method: request.method,
      url: loggablePath(request),
      remoteAddress: request.ip ?? request.socket?.remoteAddress,
    }),
    err: serializeError,
  };
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    base: { service: config.service },
    redact: { paths: redactPaths(), censor: CENSOR },
    timestamp: pino.stdTimeFunctions.isoTime,
    // A line written inside a span names its trace, so logs and traces meet. Tracing starts before any logger is made
    // (a service's first import), so a process without it never calls this.
    ...(tracingEnabled() ? { mixin: traceFields } : {}),
    serializers,
    formatters: {
      level: (label) => ({ level: label }),
      // A child's fields (a component, a request id a client chose) are written once per child, and kept as safe.
      bindings: (bindings) => sanitize(bindings, false, new WeakSet(), 0) as Record<string, unknown>,
      // Runs before the serializers: fields they own (req, res, err) are left to them.
      log: (fields) => {
        const sanitized: Record<string, unknown> = {};
        const seen = new WeakSet<object>();
        for (const [key, value] of Object.entries(fields)) {
          sanitized[key] = Object.hasOwn(serializers, key) || key === 'res' ? value : sanitize(value, ERROR_KEYS.has(key), seen, 0);
        }
        return sanitized;
      },
    },
    hooks: {
      // Messages, their format arguments, and the message pino takes from an error logged without one.
      logMethod(args, method) {
        const [first, ...rest] = args as unknown[];
        const scrubbed = rest.map((arg) => (typeof arg === 'string' ? scrubErrorText(arg) : arg));
        if (typeof first === 'string') return method.apply(this, [scrubErrorText(first), ...scrubbed] as never);
        const error = first instanceof Error ? first : (first as { err?: unknown } | undefined)?.err;
        const hasMessage = typeof rest[0] === 'string' || (first as { msg?: unknown } | undefined)?.msg !== undefined;
        if (error instanceof Error && !hasMessage) return method.apply(this, [first, scrubErrorText(error.message), ...scrubbed] as never);
        return method.apply(this, [first, ...scrubbed] as never);
      },
    },
  };
  return config.destination ? pino(options, config.destination as pino.DestinationStream) : pino(options);
}

export type { Logger };
