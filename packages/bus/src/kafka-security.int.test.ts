import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LocalKafkaBroker, uniqueTopicPrefix, waitFor } from '@pep/testing';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { IncomingMessage } from './bus.js';
import { KafkaBus, type KafkaBusOptions } from './kafka-bus.js';
import { clientCredentialsTokenProvider } from './oauth-token.js';

const logger = pino({ level: process.env.BUS_TEST_LOG_LEVEL ?? 'silent' });
const buses: KafkaBus[] = [];

function newBus(options: Omit<KafkaBusOptions, 'clientId' | 'logger'>): KafkaBus {
  const bus = new KafkaBus({ clientId: 'bus-security-test', logger, connectionTimeoutMs: 3_000, ...options });
  buses.push(bus);
  return bus;
}

afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
});

/** Publishes one record and waits for a group to get it back: the round trip a service depends on. */
async function roundTrip(bus: KafkaBus, value: string): Promise<string[]> {
  const seen: string[] = [];
  const subscription = await bus.subscribe({
    groupId: 'security',
    topics: ['secured'],
    handler: async (message: IncomingMessage) => {
      seen.push(message.value.toString());
    },
  });
  await subscription.joined;
  await bus.publish([{ topic: 'secured', key: 'k', value, headers: {} }]);
  await waitFor(() => seen.includes(value), { timeoutMs: 30_000, message: 'the record to come back over SASL_SSL' });
  return seen;
}

/** The unsigned JWT Kafka's development validator accepts (alg none); a real identity provider signs its tokens. */
function unsignedJwt(subject: string, lifetimeSeconds: number): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${part({ alg: 'none' })}.${part({ sub: subject, iat: now, exp: now + lifetimeSeconds })}.`;
}

describe('KafkaBus over a SASL_SSL listener', () => {
  let broker: LocalKafkaBroker;
  let ca: string;

  beforeAll(async () => {
    broker = await LocalKafkaBroker.start({ saslSsl: true });
    ca = await readFile(broker.saslSsl!.caFile, 'utf8');
  }, 120_000);

  afterAll(async () => {
    await broker?.destroy();
  });

  it('publishes and consumes with TLS and SCRAM-SHA-512', async () => {
    const listener = broker.saslSsl!;
    const bus = newBus({
      brokers: listener.brokers,
      topicPrefix: uniqueTopicPrefix('bus-scram'),
      ssl: { ca: [ca] },
      sasl: { mechanism: 'scram-sha-512', username: listener.username, password: listener.password },
    });
    expect(await roundTrip(bus, 'over-scram')).toEqual(['over-scram']);
    expect(await bus.healthy()).toBe(true);
  });

  it('is refused with a wrong password, and the error does not carry the password', async () => {
    const listener = broker.saslSsl!;
    const wrongPassword = `${listener.password}-wrong`;
    const bus = newBus({
      brokers: listener.brokers,
      topicPrefix: uniqueTopicPrefix('bus-wrong-password'),
      ssl: { ca: [ca] },
      sasl: { mechanism: 'scram-sha-512', username: listener.username, password: wrongPassword },
    });
    const error = (await bus
      .publish([{ topic: 'secured', key: 'k', value: 'never', headers: {} }])
      .catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(/SASL|authentication/i);
    expect(error.message).not.toContain(wrongPassword);
    expect(String(error.stack)).not.toContain(wrongPassword);
    expect(await bus.healthy()).toBe(false);
  });

  it('refuses a broker whose certificate does not chain to a trusted CA', async () => {
    const listener = broker.saslSsl!;
    // No ca: the system's CAs, which never signed the throwaway CA of the test broker.
    const bus = newBus({
      brokers: listener.brokers,
      topicPrefix: uniqueTopicPrefix('bus-wrong-ca'),
      ssl: true,
      sasl: { mechanism: 'scram-sha-512', username: listener.username, password: listener.password },
    });
    const error = (await bus
      .publish([{ topic: 'secured', key: 'k', value: 'never', headers: {} }])
      .catch((caught: unknown) => caught)) as Error;
    expect(error).toBeInstanceOf(Error);
    expect(await bus.healthy()).toBe(false);
  });

  it('refuses plaintext on the SASL_SSL port', async () => {
    const listener = broker.saslSsl!;
    const bus = newBus({
      brokers: listener.brokers,
      topicPrefix: uniqueTopicPrefix('bus-plaintext'),
      sasl: { mechanism: 'scram-sha-512', username: listener.username, password: listener.password },
      healthTimeoutMs: 3_000,
    });
    expect(await bus.healthy()).toBe(false);
  });

  describe('with OAUTHBEARER tokens from a client-credentials endpoint', () => {
    let server: Server;
    let tokenUrl: string;
    const requests: Array<{ authorization: string | undefined; body: string }> = [];

    beforeAll(async () => {
      // An identity provider's token endpoint as RFC 6749 §4.4 describes it.
      server = createServer((request, response) => {
        let body = '';
        request.on('data', (chunk: Buffer) => (body += chunk.toString()));
        request.on('end', () => {
          requests.push({ authorization: request.headers.authorization, body });
          const expected = `Basic ${Buffer.from('kafka-client:client-secret').toString('base64')}`;
          if (request.method !== 'POST' || request.headers.authorization !== expected || !body.includes('grant_type=client_credentials')) {
            response.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"invalid_client"}');
            return;
          }
          response
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ access_token: unsignedJwt('kafka-client', 3600), token_type: 'Bearer', expires_in: 3600 }));
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      tokenUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/oauth2/token`;
    });

    afterAll(async () => {
      await new Promise((resolve) => server?.close(resolve));
    });

    it('authenticates with the fetched token, asking the endpoint once for all connections', async () => {
      requests.length = 0;
      const token = clientCredentialsTokenProvider({ tokenUrl, clientId: 'kafka-client', clientSecret: 'client-secret', scope: 'kafka' });
      const bus = newBus({
        brokers: broker.saslSsl!.brokers,
        topicPrefix: uniqueTopicPrefix('bus-oauth'),
        ssl: { ca: [ca] },
        sasl: { mechanism: 'oauthbearer', token },
      });
      expect(await roundTrip(bus, 'over-oauth')).toEqual(['over-oauth']);
      // Producer, admin and consumer each authenticated; the cached token served them all.
      expect(requests).toHaveLength(1);
      expect(requests[0]!.body).toContain('scope=kafka');
    });

    it('reports refused client credentials without the secret', async () => {
      const token = clientCredentialsTokenProvider({ tokenUrl, clientId: 'kafka-client', clientSecret: 'not-the-secret' });
      const error = (await token().catch((caught: unknown) => caught)) as Error;
      expect(error.message).toContain('HTTP 401');
      expect(error.message).not.toContain('not-the-secret');
    });
  });
});
