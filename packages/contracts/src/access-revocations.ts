import { z } from 'zod';

/**
 * What an access-token revocation covers: every token of a subject (user or client) in any organization, of a user in one
 * organization (a membership), or of everyone in one organization.
 */
export const revocationScopes = ['subject', 'member', 'organization'] as const;
export type RevocationScope = (typeof revocationScopes)[number];

/** One revocation: tokens in its scope issued at or before `notBefore` are refused. */
export const accessRevocationSchema = z.object({
  /** What the revocation covers. */
  scope: z.enum(revocationScopes),
  /** The token's `sub` it applies to (subject and member scopes). */
  subject: z.string().min(1).optional(),
  /** The token's `org` it applies to (member and organization scopes). */
  organization: z.string().min(1).optional(),
  /** Tokens issued at or before this instant (ISO 8601, milliseconds) are refused. */
  notBefore: z.iso.datetime({ offset: true }),
});
export type AccessRevocation = z.infer<typeof accessRevocationSchema>;

/**
 * The revocations still relevant, as auth's internal `GET /internal/access-revocations` answers them: every one whose
 * `notBefore` is younger than the longest access-token lifetime (older tokens have expired anyway).
 */
export const accessRevocationsSnapshotSchema = z.object({
  /** When auth took the snapshot. */
  asOf: z.iso.datetime({ offset: true }),
  /** The access-token lifetime: revocations older than this cover no live token and may be forgotten. */
  tokenLifetimeSeconds: z.number().int().positive(),
  revocations: z.array(accessRevocationSchema),
  /**
   * Organizations suspended for an unpaid bill as of `asOf`, each with the instant it was suspended (added later; absent
   * means none): the gateway refuses their writes with 402.
   */
  billingSuspended: z.array(z.object({ organization: z.string().min(1), since: z.iso.datetime({ offset: true }) })).optional(),
});
export type AccessRevocationsSnapshot = z.infer<typeof accessRevocationsSnapshotSchema>;

/** Where auth serves the snapshot (internal; callers present a signed internal identity with {@link REVOCATIONS_READER_ROLE}). */
export const ACCESS_REVOCATIONS_PATH = '/internal/access-revocations';

/** The role of the internal identity the gateway presents to read revocations; never granted to a person or client. */
export const REVOCATIONS_READER_ROLE = 'system:revocations-reader';
