/** Where and as whom a Kafka client asks for OAUTHBEARER tokens (OAuth 2.0 client-credentials grant, RFC 6749 §4.4). */
export interface ClientCredentials {
  tokenUrl: string;
  clientId: string;
  clientSecret: string;
  /** Space-separated scopes, when the identity provider wants them. */
  scope?: string | undefined;
  /** Longest one token request may take (default 10000). */
  timeoutMs?: number;
  /** How long before its expiry a token is replaced (default 60000, or a tenth of a shorter lifetime). */
  refreshMarginMs?: number;
  /** The clock; tests move it. */
  now?: () => number;
}

/** A token lifetime to assume when the provider does not say (`expires_in` is only RECOMMENDED). */
const DEFAULT_LIFETIME_MS = 5 * 60_000;

/**
 * A token source for OAUTHBEARER: fetches an access token with the client-credentials grant and hands out the cached
 * one until shortly before it expires. Concurrent callers (every broker connection authenticates) share one request.
 * Errors name the endpoint and its HTTP status, never the secret or the token.
 */
export function clientCredentialsTokenProvider(options: ClientCredentials): () => Promise<string> {
  const now = options.now ?? Date.now;
  let cached: { token: string; refreshAt: number } | null = null;
  let pending: Promise<string> | null = null;

  const fetchToken = async (): Promise<string> => {
    const body = new URLSearchParams({ grant_type: 'client_credentials' });
    if (options.scope) body.set('scope', options.scope);
    // HTTP Basic with form-encoded parts is the authentication every authorization server must accept (RFC 6749 §2.3.1).
    const basic = Buffer.from(`${encodeURIComponent(options.clientId)}:${encodeURIComponent(options.clientSecret)}`).toString('base64');
    const started = now();
    let response: Response;
    try {
      response = await fetch(options.tokenUrl, {
        method: 'POST',
        headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body,
        signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
      });
    } catch (error) {
      throw new Error(`the Kafka OAuth token endpoint ${options.tokenUrl} did not answer: ${(error as Error).message}`, { cause: error });
    }
    if (!response.ok) {
      throw new Error(`the Kafka OAuth token endpoint ${options.tokenUrl} refused the client credentials (HTTP ${response.status})`);
    }
    const answer = (await response.json().catch(() => null)) as { access_token?: unknown; expires_in?: unknown } | null;
    if (!answer || typeof answer.access_token !== 'string' || answer.access_token === '') {
      throw new Error(`the Kafka OAuth token endpoint ${options.tokenUrl} answered without an access_token`);
    }
    const lifetimeMs = typeof answer.expires_in === 'number' && answer.expires_in > 0 ? answer.expires_in * 1000 : DEFAULT_LIFETIME_MS;
    const margin = Math.min(options.refreshMarginMs ?? 60_000, lifetimeMs / 10);
    cached = { token: answer.access_token, refreshAt: started + lifetimeMs - margin };
    return answer.access_token;
  };

  return () => {
    if (cached && now() < cached.refreshAt) return Promise.resolve(cached.token);
    pending ??= fetchToken().finally(() => {
      pending = null;
    });
    return pending;
  };
}
