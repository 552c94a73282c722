import { HttpProblem, type Identity, type OwnerLookup } from '@pep/service-kit';
import type { PrismaClient } from './generated/prisma/client.js';
import type { SchedulingKind } from './scheduling-record.handlers.js';
import { isUuid } from './user.schemas.js';

/** Owner lookups in flight at once for one request, so a group naming hundreds of new facilities does not flood scheduling. */
const CONCURRENT_LOOKUPS = 8;

/** 404 naming each field whose id is not a record of the caller's organization (an unknown id looks the same). */
export function unknownReferences(what: string, fields: string[]): HttpProblem {
  return new HttpProblem(404, 'not-found', `${what} not found`, {
    errors: fields.map((field) => ({ field, message: `no such ${what} in your organization` })),
  });
}

/**
 * Checks ids of scheduling's providers, facilities and appointment types against the caller's organization. The read
 * model answers first: a record it holds under another organization, or deleted, is not the caller's. An id it has not
 * heard of may be one created a moment ago whose event is still on its way, so scheduling is asked; only its "not
 * yours" refuses, and a scheduling that cannot be asked answers 503.
 */
export class SchedulingRefs {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly scheduling: OwnerLookup,
  ) {}

  /** The ids among `ids` that are not live records of this kind in the caller's organization. */
  async notOwned(identity: Identity, kind: SchedulingKind, ids: string[]): Promise<Set<string>> {
    const unique = [...new Set(ids)];
    // Scheduling's ids are UUIDs; anything else names nothing.
    const refused = new Set(unique.filter((id) => !isUuid(id)));
    const candidates = unique.filter((id) => !refused.has(id));
    const known = new Map(
      (await this.prisma.schedulingRecord.findMany({ where: { id: { in: candidates } } })).map((record) => [record.id, record] as const),
    );
    const unheardOf: string[] = [];
    for (const id of candidates) {
      const record = known.get(id);
      if (!record) unheardOf.push(id);
      else if (record.organizationId !== identity.organization || record.kind !== kind || record.deleted) refused.add(id);
    }
    for (let start = 0; start < unheardOf.length; start += CONCURRENT_LOOKUPS) {
      const batch = unheardOf.slice(start, start + CONCURRENT_LOOKUPS);
      const answers = await Promise.all(batch.map((id) => this.scheduling.exists(identity, kind, id)));
      batch.forEach((id, index) => {
        if (!answers[index]) refused.add(id);
      });
    }
    return refused;
  }

  /** 404 naming `field` unless `id` is a live record of this kind in the caller's organization. */
  async require(identity: Identity, kind: SchedulingKind, id: string, field: string): Promise<void> {
    if ((await this.notOwned(identity, kind, [id])).size > 0) throw unknownReferences(kind.replace('-', ' '), [field]);
  }

  /** 404 naming each `field.<index>` of the list whose id is not a live record of this kind in the caller's organization. */
  async requireAll(identity: Identity, kind: SchedulingKind, ids: string[], field: string): Promise<void> {
    const refused = await this.notOwned(identity, kind, ids);
    if (refused.size === 0) return;
    throw unknownReferences(
      kind.replace('-', ' '),
      ids.flatMap((id, index) => (refused.has(id) ? [`${field}.${index}`] : [])),
    );
  }
}
