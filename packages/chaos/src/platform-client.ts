import { randomBytes, randomUUID } from 'node:crypto';
import twilio from 'twilio';

/** Twilio's webhook for patients' replies (reminders and offers alike). */
export const REPLY_PATH = '/api/callback/sms/reminders';

/** An answer from the platform; `status` 0 when no answer came (connection refused, reset or timed out). */
export interface Answer {
  status: number;
  /** Seconds the platform asked the client to wait before retrying (`Retry-After`), when it did. */
  retryAfter?: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response bodies are read by the workload's own checks
  body: any;
}

/** A client of the public API through the gateway, as an integrator would be: it logs in again when its token lapses. */
export class PlatformClient {
  private token = '';

  constructor(
    private readonly gatewayUrl: string,
    private readonly login: { email: string; password: string },
  ) {}

  /** Signs the organization up (first call) and keeps the token. */
  async signup(profile: { firstname: string; lastname: string; organizationName: string }): Promise<Answer> {
    const answer = await this.raw('POST', '/api/users/signup', { ...this.login, ...profile });
    if (answer.status === 200) this.token = answer.body['token'] as string;
    return answer;
  }

  /**
   * One request with the token. `idempotencyKey` is sent as Idempotency-Key, so a retry after an answer that never
   * came is safe where the platform honours it. The client gives up on an answer after `timeoutMs` (status 0).
   */
  async request(method: string, path: string, body?: unknown, idempotencyKey?: string, timeoutMs = 20_000): Promise<Answer> {
    let answer = await this.raw(method, path, body, idempotencyKey, timeoutMs);
    if (answer.status === 401) {
      const login = await this.raw('POST', '/api/users/login', this.login);
      if (login.status === 200) {
        this.token = login.body['token'] as string;
        answer = await this.raw(method, path, body, idempotencyKey, timeoutMs);
      }
    }
    return answer;
  }

  private async raw(method: string, path: string, body?: unknown, idempotencyKey?: string, timeoutMs = 20_000): Promise<Answer> {
    try {
      const response = await fetch(`${this.gatewayUrl}${path}`, {
        method,
        headers: {
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.token ? { authorization: `Bearer ${this.token}` } : {}),
          ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(timeoutMs),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (TwiML, HTML): kept as text.
      }
      const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
      return { status: response.status, body: parsed, ...(Number.isFinite(retryAfter) ? { retryAfter } : {}) };
    } catch {
      return { status: 0, body: null };
    }
  }
}

/** Posts Twilio-signed form webhooks to the gateway, as Twilio does. */
export class TwilioWebhooks {
  constructor(
    private readonly gatewayUrl: string,
    private readonly publicUrl: string,
    private readonly token: string,
    private readonly accountSid: string,
    private readonly clinicNumber: string,
  ) {}

  /** A new message id shaped like Twilio's. */
  static messageSid(): string {
    return `SM${randomBytes(16).toString('hex')}`;
  }

  /** A patient's SMS reply; answers the status and the TwiML. */
  reply(from: string, text: string, messageSid: string): Promise<Answer> {
    return this.post(REPLY_PATH, {
      MessageSid: messageSid,
      SmsSid: messageSid,
      AccountSid: this.accountSid,
      From: from,
      To: this.clinicNumber,
      Body: text,
      NumMedia: '0',
    });
  }

  /** A delivery report for the platform's message `messageId` (the id in its status callback URL). */
  status(messageId: string, sid: string, to: string, status: string): Promise<Answer> {
    return this.post(`/api/callback/twilio/${messageId}`, {
      MessageSid: sid,
      SmsSid: sid,
      AccountSid: this.accountSid,
      MessageStatus: status,
      To: to,
      From: this.clinicNumber,
    });
  }

  private async post(path: string, params: Record<string, string>): Promise<Answer> {
    const signature = twilio.getExpectedTwilioSignature(this.token, `${this.publicUrl}${path}`, params);
    try {
      const response = await fetch(`${this.gatewayUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': signature },
        body: new URLSearchParams(params).toString(),
        signal: AbortSignal.timeout(20_000),
      });
      return { status: response.status, body: await response.text() };
    } catch {
      return { status: 0, body: null };
    }
  }
}

/** A unique id for one operation of the workload (also its Idempotency-Key). */
export const operationId = (): string => randomUUID();
