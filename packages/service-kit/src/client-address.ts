import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { SignJWT } from 'jose';
import { signingKeyOf, verifyWithAnySecret } from './internal-secret.js';

/**
 * Header in which the gateway passes the client address it established (honouring its TRUST_PROXY_HOPS) to services,
 * signed like the identity header so a client or a neighbour on the internal network cannot claim one.
 */
export const CLIENT_ADDRESS_HEADER = 'x-internal-client-address';

const ISSUER = 'pep-gateway';
// Its own audience: an identity header is never accepted as an address, nor the other way round.
const AUDIENCE = 'pep-services:client-address';

/** Signs the client address of a request for {@link CLIENT_ADDRESS_HEADER}; short-lived so a captured header is soon useless. */
export async function signClientAddress(secret: string, address: string, ttlSeconds = 60): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(address)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(signingKeyOf(secret));
}

/** The address a {@link CLIENT_ADDRESS_HEADER} value vouches for; null when it is absent, forged or expired. */
export async function verifyClientAddress(secret: string, header: string | undefined): Promise<string | null> {
  if (!header) return null;
  try {
    const payload = await verifyWithAnySecret(secret, header, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
    return typeof payload.sub === 'string' && payload.sub.length > 0 ? payload.sub : null;
  } catch {
    return null;
  }
}

/**
 * The address of whoever made the request: the one the gateway signed when the request came through it, else the
 * peer of the connection (a caller on the service's own port). Null when an address header is present but not the
 * gateway's: a forged claim is not quietly replaced by the connection's (loopback) peer.
 */
export async function originalClientAddress(request: FastifyRequest, secret: string): Promise<string | null> {
  const header = request.headers[CLIENT_ADDRESS_HEADER];
  if (header === undefined) return request.socket.remoteAddress ?? null;
  return verifyClientAddress(secret, Array.isArray(header) ? header[0] : header);
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Whether an address is the machine's own: 127.0.0.0/8, ::1, or an IPv4 loopback address mapped into IPv6. */
export function isLoopbackAddress(address: string | null | undefined): boolean {
  if (!address) return false;
  if (isIPv4(address)) return LOOPBACK.check(address, 'ipv4');
  return isIPv6(address) && LOOPBACK.check(address, 'ipv6');
}
