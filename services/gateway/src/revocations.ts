import {
  integratorClientDeletedV1,
  integratorClientUpdatedV1,
  organizationDeletedV1,
  organizationUpdatedV1,
  userDeactivatedV1,
  userPasswordChangedV1,
  userSessionsRevokedV1,
  widgetUpdatedV1,
  type AccessRevocation,
  type EventEnvelope,
} from '@pep/contracts';

/** The parts of a verified access token a revocation is judged on. */
export interface TokenFacts {
  /** `sub`: the user, integrator client or widget. */
  subject: string;
  /** `org`. */
  organization: string;
  /** `iat`, whole seconds. */
  issuedAtSeconds: number;
  /** `iat_ms` when the token carries it: the issue instant to the millisecond. */
  issuedAtMs?: number | undefined;
}

/** Auth's topics whose events revoke access tokens. */
export const REVOCATION_TOPICS = [
  userDeactivatedV1.topic,
  organizationDeletedV1.topic,
  integratorClientDeletedV1.topic,
  widgetUpdatedV1.topic,
];

/**
 * The revocation an auth event implies, or null when it implies none. The event's `time` is the instant auth made the
 * change (auth stamps it with the clock it issues tokens with), so tokens issued before it are the ones to refuse.
 */
export function revocationOf(event: EventEnvelope): AccessRevocation | null {
  const notBefore = event.time;
  const data = event.data as { _id: string; active?: boolean; changed?: string[] };
  const deactivated = data.active === false && Boolean(data.changed?.includes('active'));
  switch (`${event.type}@${event.dataversion}`) {
    case `${userDeactivatedV1.type}@1`:
    case `${userSessionsRevokedV1.type}@1`:
      return { scope: 'member', subject: data._id, organization: event.organization, notBefore };
    case `${userPasswordChangedV1.type}@1`:
    case `${integratorClientDeletedV1.type}@1`:
      return { scope: 'subject', subject: data._id, notBefore };
    case `${integratorClientUpdatedV1.type}@1`:
    case `${widgetUpdatedV1.type}@1`:
      return deactivated ? { scope: 'subject', subject: data._id, notBefore } : null;
    case `${organizationDeletedV1.type}@1`:
      return { scope: 'organization', organization: data._id, notBefore };
    case `${organizationUpdatedV1.type}@1`:
      // A suspension (or the deactivation that comes with a deletion).
      return deactivated ? { scope: 'organization', organization: data._id, notBefore } : null;
    default:
      return null;
  }
}

const keyOf = (revocation: AccessRevocation): string | null => {
  if (revocation.scope === 'subject') return revocation.subject ? `s:${revocation.subject}` : null;
  if (revocation.scope === 'member')
    return revocation.subject && revocation.organization ? `m:${revocation.subject}:${revocation.organization}` : null;
  return revocation.organization ? `o:${revocation.organization}` : null;
};

/**
 * What this gateway replica knows to be revoked: per scope, the latest not-before instant. Merging keeps the latest, so
 * the snapshot from auth and the events may arrive in any order, any number of times, with the same result.
 */
export class RevocationList {
  private readonly notBefore = new Map<string, number>();

  /** Adds a revocation; answers whether it changed what is refused. */
  add(revocation: AccessRevocation): boolean {
    const key = keyOf(revocation);
    const instant = Date.parse(revocation.notBefore);
    if (!key || Number.isNaN(instant)) return false;
    if ((this.notBefore.get(key) ?? -Infinity) >= instant) return false;
    this.notBefore.set(key, instant);
    return true;
  }

  /**
   * Whether a token is revoked: issued at or before the instant of a revocation of its subject, its membership or its
   * organization (the same millisecond counts as before: such a token could predate the change). Tokens with millisecond
   * issue times compare exactly; older whole-second ones are refused when issued in the revocation's second.
   */
  isRevoked(token: TokenFacts): boolean {
    const issuedAt = token.issuedAtMs ?? token.issuedAtSeconds * 1000;
    for (const key of [`s:${token.subject}`, `m:${token.subject}:${token.organization}`, `o:${token.organization}`]) {
      const instant = this.notBefore.get(key);
      if (instant === undefined) continue;
      const revoked = token.issuedAtMs === undefined ? issuedAt < Math.floor(instant / 1000) * 1000 + 1000 : issuedAt <= instant;
      if (revoked) return true;
    }
    return false;
  }

  /** Forgets revocations older than `horizon`: every token they covered has expired. */
  forgetBefore(horizon: number): void {
    for (const [key, instant] of this.notBefore) if (instant < horizon) this.notBefore.delete(key);
  }

  /** How many revocations are known. */
  get size(): number {
    return this.notBefore.size;
  }
}
