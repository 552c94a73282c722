import { z } from 'zod';
import { defineEvent } from '../registry.js';

const TOPIC = 'patients.patient';

/** Contact-free snapshot of a patient that other services keep as a read model. */
const patientSnapshot = z.object({
  /** Patient id. */
  _id: z.uuid(),
  /** Given name. */
  firstname: z.string(),
  /** Family name. */
  lastname: z.string(),
  /** Mobile phone in E.164, when known. */
  phone: z.string().nullable(),
  /** E-mail address, when known. */
  email: z.string().nullable(),
  /** Date of birth (YYYY-MM-DD), when known. */
  dateOfBirth: z.string().nullable(),
  /** Whether the patient must not be contacted on any channel. */
  doNotContact: z.boolean(),
});

/** A patient record was created. */
export const patientCreatedV1 = defineEvent({ type: 'patient.created', version: 1, topic: TOPIC, data: patientSnapshot });

/** A patient record changed; carries the full new snapshot and the names of changed fields. */
export const patientUpdatedV1 = defineEvent({
  type: 'patient.updated',
  version: 1,
  topic: TOPIC,
  data: patientSnapshot.extend({ changed: z.array(z.string()).min(1) }),
});
