import type { FastifyRequest } from 'fastify';

/**
 * The caller's address for per-address limits: the first `x-forwarded-for` entry (the gateway sets it to the
 * client it saw), else the socket's peer.
 */
export function clientAddress(request: FastifyRequest): string {
  const forwarded = request.headers['x-forwarded-for'];
  const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
  return first || request.socket.remoteAddress || 'unknown';
}
