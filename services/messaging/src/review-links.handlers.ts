import { settingsChangedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Keeps the review pages promoters are sent to from auth's settings.changed: a facility's setting (`reviewLink`) or
 * the organization's. A setting deleted, or saved without the key, removes its link; an older event arriving late
 * changes nothing. Settings of users, providers and the rest carry no review page.
 */
export const reviewLinkBindings: EventBinding<Tx>[] = [
  on(settingsChangedV1, async (event, tx) => {
    const { ref, refId, deleted, settings } = event.data;
    if (ref !== 'facility' && ref !== 'organization') return;
    // A facility is named by its id; anything else names no facility messaging could send a promoter of.
    if (ref === 'facility' && !UUID.test(refId)) return;
    const url = deleted ? null : (settings.reviewLink ?? null);
    await tx.$executeRawUnsafe(
      `INSERT INTO "review_link" ("organization", "ref", "url", "changed_at") VALUES ($1::uuid, $2::uuid, $3, $4::timestamptz)
       ON CONFLICT ("organization", "ref") DO UPDATE SET "url" = EXCLUDED."url", "changed_at" = EXCLUDED."changed_at"
       WHERE "review_link"."changed_at" <= EXCLUDED."changed_at"`,
      event.organization,
      ref === 'organization' ? event.organization : refId,
      url,
      event.time,
    );
  }),
];
