import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import nodemailer, { type Transporter } from 'nodemailer';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioResponse from 'twilio/lib/http/response.js';

/** Twilio's account and the number (or messaging service) messages go out from. */
export interface TwilioConfig {
  accountSid: string;
  authToken: string;
  from: string;
  /** Base URL of the REST API; Twilio's own unless a stand-in is used. */
  apiUrl?: string;
}

/** Where outgoing mail goes: an SMTP server, or .eml files in a folder (embedded runtime, no SMTP at hand). */
export type MailerConfig = { from: string } & ({ smtpUrl: string } | { directory: string });

/** What a vendor said about a message it took. */
export interface Handed {
  /** Its id at the vendor. */
  externalId: string | null;
  /** The address it went out from (the clinic's sending number, the mail sender), when the vendor says or we chose it. */
  from?: string | null;
  /** What the vendor answered, or `{ sink: true }` when nothing left the platform. */
  externalStatus: Record<string, unknown>;
}

/** A send the vendor refused. `permanent` failures (a bad number) are not retried; others may succeed later. */
export class SendError extends Error {
  constructor(
    /** The vendor's error code or HTTP status, never content. */
    readonly reason: string,
    readonly permanent: boolean,
  ) {
    super(`send failed: ${reason}`);
    this.name = 'SendError';
  }
}

/** A channel a vendor sends on. */
export type VendorChannel = 'sms' | 'voice' | 'email';

/** The port to SMS, voice and e-mail vendors. */
export interface Vendors {
  sms(to: string, text: string, statusCallback: string): Promise<Handed>;
  /** Places a call saying `text`; with `url`, Twilio fetches what the call says from there instead (a call that asks for keys). */
  voice(to: string, text: string, language: string, statusCallback: string, url?: string | null): Promise<Handed>;
  email(to: string, subject: string, text: string): Promise<Handed>;
  /**
   * The token Twilio signs webhooks with. With the development sink it is the sink's own token when one is given (a
   * developer signs replies with it), else null and every webhook is refused.
   */
  readonly webhookToken: string | null;
  /** Which vendor each channel goes to, as metrics name it: `twilio` or `sink` for texts and calls, `smtp` or `mail-dir` for mail. */
  readonly names: Readonly<Record<VendorChannel, string>>;
  close(): void;
}

const TWILIO_API = 'https://api.twilio.com';

/** The sending number the development sink reports; scripts/sms-reply.mjs plays patients' replies to it (SINK_NUMBER). */
export const SINK_FROM = '+15550100000';

// The SDK's agent allows 20 connections to Twilio and keeps 5 open between bursts: with Twilio's ~50–300 ms per
// request, at most a few hundred texts a second per replica, and a new TLS handshake for most texts of the next batch.
// The dispatcher sends a batch's texts concurrently (ADR 0027), so it gets more, and keeps them all open. An idle one is
// closed after 4 s, before servers' usual keep-alive timeouts (Node's 5 s): a request is not written to a connection the
// other end is closing, which would fail a text that never arrived.
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 256, maxTotalSockets: 256, maxFreeSockets: 256, timeout: 4_000 };
const REQUEST_TIMEOUT_MS = 30_000;

/** URL-encodes a Twilio request's parameters; a list repeats its key, as Twilio expects (StatusCallbackEvent). */
function formOf(values: object): string {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || value === null) continue;
    for (const one of Array.isArray(value) ? value : [value]) form.append(key, String(one));
  }
  return form.toString();
}

/**
 * The SDK's HTTP client on Node's own `http`/`https` with a keep-alive agent, optionally rebased onto a stand-in
 * speaking Twilio's REST API. The SDK's default goes through axios, whose per-request work (merging configs, header
 * objects, interceptors) was the largest part of a replica's time per text (ADR 0033); the SDK still builds each
 * request and reads each answer, this only moves the bytes.
 */
class KeepAliveRequestClient extends twilio.RequestClient {
  private readonly agents = { http: new http.Agent(AGENT_OPTIONS), https: new https.Agent(AGENT_OPTIONS) };

  constructor(private readonly base: string) {
    super({ keepAlive: true });
  }

  override async request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<TwilioResponse.default<TData>> {
    const url = new URL(opts.uri.startsWith(TWILIO_API) ? this.base + opts.uri.slice(TWILIO_API.length) : opts.uri);
    const headers: Record<string, string> = { ...(opts.headers as Record<string, string> | undefined) };
    if (opts.username && opts.password)
      headers['Authorization'] = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
    else if (opts.authStrategy) headers['Authorization'] = await opts.authStrategy.getAuthString();
    if (opts.params) url.search = formOf(opts.params);
    const data = opts.data as object | undefined;
    const body = data ? (headers['Content-Type'] === 'application/json' ? JSON.stringify(data) : formOf(data)) : undefined;
    if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      const request = (secure ? https : http).request(
        url,
        {
          method: opts.method.toUpperCase(),
          headers,
          agent: secure ? this.agents.https : this.agents.http,
          timeout: opts.timeout ?? REQUEST_TIMEOUT_MS,
        },
        (response) => {
          let text = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => (text += chunk));
          response.on('error', reject);
          // The SDK parses the JSON (and reads Twilio's error codes from it) itself.
          response.on('end', () => resolve({ statusCode: response.statusCode ?? 0, body: text as TData, headers: response.headers }));
        },
      );
      request.on('timeout', () => request.destroy(new Error('request timed out')));
      request.on('error', reject);
      request.end(body);
    });
  }

  /** Closes the kept-alive connections. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

/** Voice languages Twilio's <Say> knows, by the patient's ISO 639-1 language. */
const VOICE_LANGUAGES: Record<string, 'en-US' | 'es-US' | 'fr-FR' | 'de-DE'> = { en: 'en-US', es: 'es-US', fr: 'fr-FR', de: 'de-DE' };

function sendErrorOf(error: unknown): SendError {
  const failure = error as { status?: number; code?: number };
  if (typeof failure.status === 'number') {
    // Twilio answers 4xx for requests that will never succeed (invalid or unreachable number), except rate limiting.
    const permanent = failure.status >= 400 && failure.status < 500 && failure.status !== 429;
    return new SendError(failure.code !== undefined ? `twilio-${failure.code}` : `http-${failure.status}`, permanent);
  }
  return new SendError('unreachable', false);
}

/** What {@link createVendors} needs. */
export interface VendorOptions {
  twilio: TwilioConfig | null;
  mailer: MailerConfig;
  /** With the development sink only: the token webhooks must be signed with, so a developer can play patients' replies. */
  sinkWebhookToken?: string | undefined;
}

/** Creates the vendors: Twilio when configured (else the development sink), nodemailer for e-mail. */
export function createVendors(options: VendorOptions): Vendors {
  const mail = createMailTransport(options.mailer);
  const config = options.twilio;
  if (!config) {
    // Ids shaped like Twilio's (SM… for texts, CA… for calls), so clients that correlate by vendor id work on a laptop too.
    const sink = (prefix: 'SM' | 'CA'): Handed => ({
      externalId: prefix + randomUUID().replace(/-/g, ''),
      from: SINK_FROM,
      externalStatus: { sink: true },
    });
    // Replies to the sink go through the same signature check as Twilio's, with a token of the developer's instead.
    return {
      sms: async () => sink('SM'),
      voice: async () => sink('CA'),
      email: mail.send,
      webhookToken: options.sinkWebhookToken || null,
      names: { sms: 'sink', voice: 'sink', email: mail.name },
      close: mail.close,
    };
  }
  const base = (config.apiUrl ?? TWILIO_API).replace(/\/+$/, '');
  const httpClient = new KeepAliveRequestClient(base);
  const client = twilio(config.accountSid, config.authToken, { httpClient });
  const sender = config.from.startsWith('MG') ? { messagingServiceSid: config.from } : { from: config.from };
  return {
    async sms(to, text, statusCallback) {
      try {
        const message = await client.messages.create({ to, body: text, statusCallback, ...sender });
        return {
          externalId: message.sid,
          from: message.from ?? ('from' in sender ? sender.from : null),
          externalStatus: { status: message.status },
        };
      } catch (error) {
        throw sendErrorOf(error);
      }
    },
    async voice(to, text, language, statusCallback, url) {
      const response = new twilio.twiml.VoiceResponse();
      response.say({ language: VOICE_LANGUAGES[language] ?? 'en-US' }, text);
      const script = url ? { url, method: 'POST' as const } : { twiml: response.toString() };
      try {
        const call = await client.calls.create({ to, from: config.from, ...script, statusCallback, statusCallbackEvent: ['completed'] });
        return { externalId: call.sid, from: config.from, externalStatus: { status: call.status } };
      } catch (error) {
        throw sendErrorOf(error);
      }
    },
    email: mail.send,
    webhookToken: config.authToken,
    names: { sms: 'twilio', voice: 'twilio', email: mail.name },
    close: () => {
      httpClient.close();
      mail.close();
    },
  };
}

/**
 * The same vendors, telling `failed` of every send attempt that threw (refused, unreachable or broken), named as the
 * vendors name themselves, then rethrowing.
 */
export function reportingFailures(vendors: Vendors, failed: (vendor: string, channel: VendorChannel) => void): Vendors {
  const watch = async <T>(channel: VendorChannel, send: () => Promise<T>): Promise<T> => {
    try {
      return await send();
    } catch (error) {
      failed(vendors.names[channel], channel);
      throw error;
    }
  };
  return {
    sms: (to, text, statusCallback) => watch('sms', () => vendors.sms(to, text, statusCallback)),
    voice: (to, text, language, statusCallback, url) => watch('voice', () => vendors.voice(to, text, language, statusCallback, url)),
    email: (to, subject, text) => watch('email', () => vendors.email(to, subject, text)),
    webhookToken: vendors.webhookToken,
    names: vendors.names,
    close: () => vendors.close(),
  };
}

function createMailTransport(config: MailerConfig): { name: 'smtp' | 'mail-dir'; send: Vendors['email']; close(): void } {
  if ('smtpUrl' in config) {
    const transport: Transporter = nodemailer.createTransport(config.smtpUrl);
    return {
      name: 'smtp',
      async send(to, subject, text) {
        try {
          const info = await transport.sendMail({ from: config.from, to, subject, text });
          return { externalId: info.messageId ?? null, from: config.from, externalStatus: { response: info.response } };
        } catch (error) {
          const code = (error as { responseCode?: number }).responseCode;
          // 5xx from the mail server is a refusal (no such mailbox); anything else may pass on another try.
          throw new SendError(code ? `smtp-${code}` : 'unreachable', code !== undefined && code >= 500);
        }
      },
      close: () => transport.close(),
    };
  }
  const transport = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
  return {
    name: 'mail-dir',
    async send(to, subject, text) {
      const info = await transport.sendMail({ from: config.from, to, subject, text });
      await mkdir(config.directory, { recursive: true });
      await writeFile(
        join(config.directory, `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomUUID()}.eml`),
        info.message as Buffer,
        { mode: 0o600 },
      );
      return { externalId: info.messageId ?? null, from: config.from, externalStatus: { sink: true } };
    },
    close: () => transport.close(),
  };
}
