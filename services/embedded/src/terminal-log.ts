/** How the embedded platform writes its log: pino's JSON lines, or one readable line per entry. */
export type LogFormat = 'json' | 'pretty';

/**
 * The log format to use: the `LOG_FORMAT` setting when given, else pretty for a person at a terminal and JSON when
 * stdout is a pipe or a file (a log collector, `| jq`, a test).
 */
export function chooseLogFormat(setting: LogFormat | undefined, stdoutIsTTY: boolean | undefined): LogFormat {
  return setting ?? (stdoutIsTTY ? 'pretty' : 'json');
}

/** The fields of a logged entry the terminal line is made of. */
interface LoggedEntry {
  service?: string;
  msg?: string;
  req?: { method?: string; url?: string };
  res?: { statusCode?: number };
  responseTime?: number;
  upstream?: string;
}

/**
 * The text of an entry's terminal line after its time and level: `service  GET /api/patients 201 12 ms → patients`
 * for a request, `service  message` otherwise. Other fields follow it on the same line.
 */
export function terminalMessage(entry: LoggedEntry): string {
  const service = (entry.service ?? '').padEnd(10);
  if ((entry.msg === 'request completed' || entry.msg === 'request errored') && entry.req) {
    const upstream = entry.upstream ? ` → ${entry.upstream}` : '';
    return `${service} ${entry.req.method ?? ''} ${entry.req.url ?? ''} ${entry.res?.statusCode ?? ''} ${entry.responseTime ?? ''} ms${upstream}`;
  }
  return `${service} ${entry.msg ?? ''}`;
}

/**
 * A stream that turns the logger's JSON lines into one readable line each (pino-pretty, in this process). The lines
 * are the logger's output, already redacted: only their layout changes.
 */
export async function terminalLogStream(destination: NodeJS.WritableStream = process.stdout): Promise<NodeJS.WritableStream> {
  const { default: pretty } = await import('pino-pretty');
  return pretty({
    destination,
    sync: true,
    singleLine: true,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'pid,hostname,service,reqId,req,res,responseTime,upstream',
    messageFormat: (entry) => terminalMessage(entry as LoggedEntry),
  });
}
