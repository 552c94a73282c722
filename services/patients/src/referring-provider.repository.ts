import { randomUUID } from 'node:crypto';
import { HttpProblem } from '@pep/service-kit';
import { foldName } from './contact.js';
import type { Tx } from './events.js';
import type { ReferringProvider } from './generated/prisma/client.js';

/** A referring provider as a referral names it: by our id, or by its details (found by NPI, else by name, else created). */
export type ReferringProviderInput =
  | { id: string }
  | {
      npi?: string | null;
      firstname?: string | null;
      lastname?: string | null;
      /** Display name; built from first and last name when absent. */
      name?: string | null;
      taxonomy?: string | null;
      email?: string | null;
      phone?: string | null;
      fax?: string | null;
    };

/**
 * The organization's referring provider a referral points at. An id must be one of the organization's (else 400 on
 * `field`); details match the provider with the same NPI, else the same folded name, and create one when none does.
 */
export async function resolveReferringProvider(
  tx: Tx,
  organization: string,
  input: ReferringProviderInput,
  by: string | null,
  field = 'referringProvider',
): Promise<ReferringProvider> {
  if ('id' in input) {
    const found = await tx.referringProvider.findFirst({ where: { id: input.id, organization, deletedAt: null } });
    if (!found) {
      throw new HttpProblem(400, 'validation', 'The request is invalid.', {
        errors: [{ field, message: 'no referring provider of this organization has this id; list them at GET /api/providers/referring' }],
      });
    }
    return found;
  }
  const name = input.name?.trim() || [input.firstname, input.lastname].filter(Boolean).join(' ').trim();
  if (!name && !input.npi) {
    throw new HttpProblem(400, 'validation', 'The request is invalid.', {
      errors: [{ field, message: 'give the referring provider an id, an NPI, or a name' }],
    });
  }
  const normalizedName = foldName(name);
  const existing = input.npi
    ? await tx.referringProvider.findFirst({ where: { organization, npi: input.npi, deletedAt: null } })
    : await tx.referringProvider.findFirst({ where: { organization, normalizedName, deletedAt: null }, orderBy: { createdAt: 'asc' } });
  if (existing) return existing;
  const data = {
    id: randomUUID(),
    organization,
    name: name || `NPI ${input.npi}`,
    normalizedName: normalizedName || '',
    firstname: input.firstname ?? null,
    lastname: input.lastname ?? null,
    npi: input.npi ?? null,
    taxonomy: input.taxonomy ?? null,
    email: input.email ?? null,
    phone: input.phone ?? null,
    fax: input.fax ?? null,
    source: 'ui',
    createdBy: by,
    updatedBy: by,
  };
  // Two referrals naming the same new NPI at once: the unique (organization, npi) lets one insert; the other reads it.
  const created = input.npi
    ? await tx.referringProvider.upsert({ where: { organization_npi: { organization, npi: input.npi } }, update: {}, create: data })
    : await tx.referringProvider.create({ data });
  return created;
}
