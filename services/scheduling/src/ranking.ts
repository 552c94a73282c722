import type { Db } from './events.js';

/** A slot to find waitlisted patients for. */
export interface Slot {
  organization: string;
  provider: string;
  facility: string;
  appointmentType: string;
  date: Date;
  duration: number;
}

/** A waiting entry that matches a slot, with its match quality. */
export interface RankedEntry {
  id: string;
  patient: string;
  score: number;
  sameProvider: boolean;
  listedFacility: boolean;
  sameType: boolean;
}

// Match quality weights: the provider asked for matters most, then the place, then the kind of visit.
const SCORE = `(CASE WHEN w."provider" = $2::uuid THEN 4 ELSE 0 END)
  + (CASE WHEN w."facility" = $3::uuid OR $3::uuid = ANY(w."facilities") THEN 2 ELSE 0 END)
  + (CASE WHEN w."appointment_type" = $4::uuid THEN 1 ELSE 0 END)`;

/**
 * The waiting entries of the organization that fit the slot, best first: by match quality, then waitlist position,
 * then how long they have waited. An entry fits when what it asked for (provider, facility or one of its
 * facilities, type) is the slot's or left open. Patients already busy at that time, or already holding an offer,
 * are left out, and each patient appears once (their best entry).
 *
 * With `lock`, the rows are locked for the caller's transaction and rows another transaction holds are skipped, so
 * two offers made at once never take the same patient.
 */
export async function rankCandidates(db: Db, slot: Slot, limit: number, lock = false): Promise<RankedEntry[]> {
  const end = new Date(slot.date.getTime() + slot.duration * 60_000);
  const rows = await db.$queryRawUnsafe<
    Array<{ id: string; patient: string; score: number; same_provider: boolean; listed_facility: boolean; same_type: boolean }>
  >(
    `SELECT w."id"::text AS id, w."patient"::text AS patient, (${SCORE})::int AS score,
            coalesce(w."provider" = $2::uuid, false) AS same_provider,
            coalesce(w."facility" = $3::uuid OR $3::uuid = ANY(w."facilities"), false) AS listed_facility,
            coalesce(w."appointment_type" = $4::uuid, false) AS same_type
       FROM "waitlist" w
      WHERE w."organization" = $1::uuid AND NOT w."deleted" AND w."status" = 'waiting'
        AND (w."provider" IS NULL OR w."provider" = $2::uuid)
        AND ((w."facility" IS NULL AND coalesce(cardinality(w."facilities"), 0) = 0) OR w."facility" = $3::uuid OR $3::uuid = ANY(w."facilities"))
        AND (w."appointment_type" IS NULL OR w."appointment_type" = $4::uuid)
        AND NOT EXISTS (SELECT 1 FROM "waitlist" o WHERE o."organization" = w."organization" AND o."patient" = w."patient" AND NOT o."deleted"
                          AND o."status" IN ('in-flight', 'offered', 'confirming'))
        AND NOT EXISTS (SELECT 1 FROM "appointment" a WHERE a."organization" = w."organization" AND a."patient" = w."patient" AND NOT a."deleted"
                          AND a."status" <> 'cancelled' AND a."date" < $6::timestamptz AND a."end_at" > $5::timestamptz)
      ORDER BY score DESC, w."position" ASC, w."created_at" ASC, w."id" ASC
      LIMIT $7
      ${lock ? 'FOR UPDATE OF w SKIP LOCKED' : ''}`,
    slot.organization,
    slot.provider,
    slot.facility,
    slot.appointmentType,
    slot.date.toISOString(),
    end.toISOString(),
    // Room for patients with several fitting entries, who are kept once.
    limit * 4,
  );
  const seen = new Set<string>();
  const ranked: RankedEntry[] = [];
  for (const row of rows) {
    if (seen.has(row.patient)) continue;
    seen.add(row.patient);
    ranked.push({
      id: row.id,
      patient: row.patient,
      score: row.score,
      sameProvider: row.same_provider,
      listedFacility: row.listed_facility,
      sameType: row.same_type,
    });
    if (ranked.length === limit) break;
  }
  return ranked;
}
