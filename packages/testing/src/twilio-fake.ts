import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the fake took: an SMS (Messages.json) or a call (Calls.json), with its form fields. */
export interface FakeSend {
  kind: 'message' | 'call';
  sid: string;
  params: Record<string, string>;
  /** When the fake took it (ms since the epoch). */
  at: number;
  /** Taken, but the caller never heard so: the fake was in `timeout` mode and dropped the connection instead of answering. */
  unconfirmed: boolean;
}

/**
 * How the fake misbehaves: `none`; `error` answers 500 to every request and takes nothing; `timeout` takes each
 * message (it is sent) but never answers: it holds the request for `hangMs`, then drops the connection, as a vendor
 * whose answer is lost on the way back.
 */
export type TwilioFaultMode = 'none' | 'error' | 'timeout';

/** A local HTTP server speaking the part of Twilio's REST API messaging uses, so the real SDK runs against it. */
export interface TwilioFake {
  accountSid: string;
  authToken: string;
  from: string;
  /** Base URL to give the service as its Twilio API URL. */
  url: string;
  sent: FakeSend[];
  /** Requests refused for bad credentials. */
  unauthorized: number;
  /** Numbers the fake refuses as Twilio refuses an invalid number (400, code 21211). */
  invalidNumbers: Set<string>;
  /** While true, every request answers 503 (Twilio having a bad day). */
  down: boolean;
  /** Milliseconds each send takes, so concurrent senders overlap. */
  latencyMs: number;
  /** A fault the fake is playing (fault-injection runs); `none` by default. */
  fault: TwilioFaultMode;
  /** In `timeout` mode, how long a request is held before its connection is dropped. */
  hangMs: number;
  /** Requests answered 500 or dropped because of {@link fault}. */
  faulted: number;
  close(): Promise<void>;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

function json(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

async function formOf(request: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
}

/** Starts the fake on a free loopback port. */
export async function startTwilioFake(): Promise<TwilioFake> {
  const fake: TwilioFake = {
    accountSid: `AC${hex(16)}`,
    authToken: hex(16),
    from: '+15005550006',
    url: '',
    sent: [],
    unauthorized: 0,
    invalidNumbers: new Set(),
    down: false,
    latencyMs: 0,
    fault: 'none',
    hangMs: 1_000,
    faulted: 0,
    close: async () => undefined,
  };
  const server: Server = createServer((request, response) => {
    void (async () => {
      const match = /^\/2010-04-01\/Accounts\/(AC[0-9a-f]{32})\/(Messages|Calls)\.json$/.exec(request.url ?? '');
      if (request.method !== 'POST' || !match)
        return json(response, 404, { code: 20404, message: 'The requested resource was not found', status: 404 });
      const expected = `Basic ${Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64')}`;
      if (request.headers.authorization !== expected || match[1] !== fake.accountSid) {
        fake.unauthorized += 1;
        return json(response, 401, {
          code: 20003,
          message: 'Authenticate',
          more_info: 'https://www.twilio.com/docs/errors/20003',
          status: 401,
        });
      }
      if (request.headers['content-type'] !== 'application/x-www-form-urlencoded')
        return json(response, 400, { code: 20001, message: 'Bad content type', status: 400 });
      const params = await formOf(request);
      if (fake.down) return json(response, 503, { code: 20503, message: 'Service unavailable', status: 503 });
      if (fake.fault === 'error') {
        fake.faulted += 1;
        return json(response, 500, { code: 20500, message: 'Internal Server Error', status: 500 });
      }
      if (!params['To'] || (!params['From'] && !params['MessagingServiceSid']))
        return json(response, 400, { code: 21604, message: "A 'To' phone number is required.", status: 400 });
      if (fake.invalidNumbers.has(params['To'])) {
        return json(response, 400, {
          code: 21211,
          message: `The 'To' number ${params['To']} is not a valid phone number.`,
          more_info: 'https://www.twilio.com/docs/errors/21211',
          status: 400,
        });
      }
      const kind = match[2] === 'Messages' ? 'message' : 'call';
      if (fake.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, fake.latencyMs));
      if (kind === 'message' && !params['Body'])
        return json(response, 400, { code: 21602, message: 'Message body is required.', status: 400 });
      if (kind === 'call' && !params['Twiml'] && !params['Url'])
        return json(response, 400, { code: 21205, message: 'Url or Twiml is required.', status: 400 });
      const sid = `${kind === 'message' ? 'SM' : 'CA'}${hex(16)}`;
      if (fake.fault === 'timeout') {
        fake.faulted += 1;
        fake.sent.push({ kind, sid, params, at: Date.now(), unconfirmed: true });
        await new Promise((resolve) => setTimeout(resolve, fake.hangMs));
        request.socket.destroy();
        return;
      }
      fake.sent.push({ kind, sid, params, at: Date.now(), unconfirmed: false });
      const now = new Date().toUTCString();
      const common = {
        sid,
        account_sid: fake.accountSid,
        to: params['To'],
        from: params['From'] ?? null,
        date_created: now,
        date_updated: now,
        api_version: '2010-04-01',
      };
      return json(
        response,
        201,
        kind === 'message'
          ? {
              ...common,
              body: params['Body'],
              status: 'queued',
              num_segments: '1',
              direction: 'outbound-api',
              uri: `/2010-04-01/Accounts/${fake.accountSid}/Messages/${sid}.json`,
            }
          : { ...common, status: 'queued', direction: 'outbound-api', uri: `/2010-04-01/Accounts/${fake.accountSid}/Calls/${sid}.json` },
      );
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      // A request held in `timeout` mode must not keep the server open.
      server.closeAllConnections();
    });
  return fake;
}
