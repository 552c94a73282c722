import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import {
  CLIENT_ADDRESS_HEADER,
  isLoopbackAddress,
  originalClientAddress,
  signClientAddress,
  verifyClientAddress,
} from './client-address.js';
import { signIdentity } from './identity.js';

const SECRET = 'client-address-secret-0123456789abcdef';

describe('client address signed by the gateway', () => {
  it('verifies what the gateway signed and refuses other keys, identity headers and expired ones', async () => {
    expect(await verifyClientAddress(SECRET, await signClientAddress(SECRET, '203.0.113.9'))).toBe('203.0.113.9');
    expect(await verifyClientAddress(SECRET, await signClientAddress('another-secret-0123456789abcdefghij', '127.0.0.1'))).toBeNull();
    expect(await verifyClientAddress(SECRET, await signIdentity(SECRET, { organization: 'o', user: '127.0.0.1', roles: [] }))).toBeNull();
    expect(await verifyClientAddress(SECRET, await signClientAddress(SECRET, '127.0.0.1', -1))).toBeNull();
    expect(await verifyClientAddress(SECRET, undefined)).toBeNull();
  });

  it('answers the signed address, the connection peer without one, and nothing for a forged one', async () => {
    const app = Fastify();
    app.get('/', async (request) => ({ address: await originalClientAddress(request, SECRET) }));
    const address = async (headers: Record<string, string>) => (await app.inject({ url: '/', headers })).json().address;
    expect(await address({ [CLIENT_ADDRESS_HEADER]: await signClientAddress(SECRET, '198.51.100.7') })).toBe('198.51.100.7');
    expect(await address({})).toBe('127.0.0.1');
    expect(await address({ [CLIENT_ADDRESS_HEADER]: 'forged' })).toBeNull();
    await app.close();
  });

  it('knows loopback addresses in every spelling', () => {
    for (const address of ['127.0.0.1', '127.8.0.1', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1'])
      expect(isLoopbackAddress(address), address).toBe(true);
    for (const address of ['10.0.0.1', '::ffff:10.0.0.1', '::2', '203.0.113.9', 'localhost', '', null, undefined])
      expect(isLoopbackAddress(address), String(address)).toBe(false);
  });
});
