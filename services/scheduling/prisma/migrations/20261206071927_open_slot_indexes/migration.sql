-- Written by hand: what the open-slot query needs (docs/adr/0008-open-slots.md) and schema.prisma cannot express.

-- Every path that writes an appointment takes its duration from 1 to 1440 minutes (bodies, types, the organization's
-- default, offers of a cancelled appointment). Held here too, so an appointment overlapping a slot is known to start
-- less than a day before the slot does, which bounds the probe below.
ALTER TABLE "appointment" ADD CONSTRAINT "appointment_duration_check" CHECK ("duration" BETWEEN 1 AND 1440);

-- A slot is open while no live appointment of its provider overlaps it. The no-overlap exclusion constraint's index
-- leaves out appointments booked while double booking was allowed, so it cannot answer that; this one holds every live
-- appointment, and a slot's check reads the provider's entries of the day before it, not the organization's past.
CREATE INDEX "appointment_live_start" ON "appointment"("organization", "provider", "date") INCLUDE ("end_at") WHERE "status" <> 'cancelled' AND NOT "deleted";

-- The candidates of open slots in the order pages are read (start, then id), so a page after a cursor reads only the
-- rows it answers plus the booked ones between them.
CREATE INDEX "availability_open" ON "availability"("organization", "date", "id") WHERE "status" = 'available' AND NOT "locked" AND NOT "deleted";
