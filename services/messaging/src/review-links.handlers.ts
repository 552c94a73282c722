import { settingsChangedV1 } from '@pep/contracts';
import type { EventBinding } from '@pep/db';
import { on, type Tx } from './events.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Keeps the review pages promoters are sent to (`reviewLink`) and the pages patients book themselves on
 * (`bookingLink`, said in follow-up texts) from auth's settings.changed: a facility's setting or the organization's. A
 * setting deleted, or saved without the key, removes its link; an older event arriving late changes nothing. Settings
 * of users, providers and the rest carry neither.
 */
export const reviewLinkBindings: EventBinding<Tx>[] = [
  on(settingsChangedV1, async (event, tx) => {
    const { ref, refId, deleted, settings } = event.data;
    if (ref !== 'facility' && ref !== 'organization') return;
    // A facility is named by its id; anything else names no facility messaging could send a promoter of.
    if (ref === 'facility' && !UUID.test(refId)) return;
    for (const [table, url] of [
      ['review_link', settings.reviewLink],
      ['booking_link', settings.bookingLink],
    ] as const) {
      await tx.$executeRawUnsafe(
        `INSERT INTO "${table}" ("organization", "ref", "url", "changed_at") VALUES ($1::uuid, $2::uuid, $3, $4::timestamptz)
         ON CONFLICT ("organization", "ref") DO UPDATE SET "url" = EXCLUDED."url", "changed_at" = EXCLUDED."changed_at"
         WHERE "${table}"."changed_at" <= EXCLUDED."changed_at"`,
        event.organization,
        ref === 'organization' ? event.organization : refId,
        deleted ? null : (url ?? null),
        event.time,
      );
    }
  }),
];
