import { DateTime } from 'luxon';
import type { Db } from './events.js';

/** Wording of one message: the text, and the subject line when it goes by e-mail. */
export interface Wording {
  subject: string | null;
  text: string;
}

/** Keys of the messages the platform sends on its own. */
export const BUILT_IN_KEYS = [
  'reminder',
  'confirmation-ack',
  'cancellation-ack',
  'stop-ack',
  'start-ack',
  'help',
  'offer',
  'offer-parallel',
  'offer-pending',
  'offer-accepted',
  'offer-declined',
  'offer-taken',
  'waitlist-invite',
  'waitlist-joined',
  'voice-reminder',
  'voice-offer',
  'voice-retry',
  'voice-goodbye',
  'answer-received',
  'email-reminder-links',
  'email-offer-links',
  'referral-outreach',
  'referral-answered',
  'voice-referral',
  'feedback-request',
  'feedback-promoter',
  'feedback-thanks',
  'feedback-detractor',
] as const;
export type BuiltInKey = (typeof BUILT_IN_KEYS)[number];

/**
 * The platform's wording where an organization wrote none. Variables: patient.firstname, provider.name,
 * facility.name, appointment.date, appointment.time (in the facility's time zone, in the patient's language), help,
 * and for offers offer.expires (the time the offer ends). An offer's slot fills the appointment variables. The
 * `voice-*` keys are what a reminder or offer call says (it asks for a key press, not a text reply); the
 * `email-*-links` keys are appended to reminder and offer e-mails, with link.confirm and link.cancel, or link.accept
 * and link.decline; `answer-received` answers a key press or a link opened. `referral-*` and `voice-referral` invite a
 * referred patient to schedule; they also have facility.phone (the referral's facility's front desk).
 */
export const BUILT_IN_TEMPLATES: Record<BuiltInKey, Record<string, Wording>> = {
  reminder: {
    en: {
      subject: 'Appointment reminder',
      text: 'Hi {{patient.firstname}}, this is a reminder of your appointment with {{provider.name}} at {{facility.name}} on {{appointment.date}} at {{appointment.time}}. Reply YES to confirm or NO to cancel.',
    },
    es: {
      subject: 'Recordatorio de cita',
      text: 'Hola {{patient.firstname}}, le recordamos su cita con {{provider.name}} en {{facility.name}} el {{appointment.date}} a las {{appointment.time}}. Responda SÍ para confirmar o NO para cancelar.',
    },
  },
  'confirmation-ack': {
    en: {
      subject: 'Appointment confirmed',
      text: 'Thank you {{patient.firstname}}, your appointment on {{appointment.date}} at {{appointment.time}} is confirmed.',
    },
    es: {
      subject: 'Cita confirmada',
      text: 'Gracias {{patient.firstname}}, su cita del {{appointment.date}} a las {{appointment.time}} está confirmada.',
    },
  },
  'cancellation-ack': {
    en: {
      subject: 'Appointment cancelled',
      text: 'Your appointment on {{appointment.date}} at {{appointment.time}} is cancelled. Call {{facility.name}} to book another time.',
    },
    es: {
      subject: 'Cita cancelada',
      text: 'Su cita del {{appointment.date}} a las {{appointment.time}} fue cancelada. Llame a {{facility.name}} para reservar otra hora.',
    },
  },
  'stop-ack': {
    en: { subject: null, text: 'You will receive no more messages from us. Reply START to receive them again.' },
    es: { subject: null, text: 'No recibirá más mensajes nuestros. Responda START para volver a recibirlos.' },
  },
  'start-ack': {
    en: { subject: null, text: 'You will receive messages from us again. Reply STOP to stop them.' },
    es: { subject: null, text: 'Volverá a recibir nuestros mensajes. Responda STOP para dejar de recibirlos.' },
  },
  help: {
    en: { subject: null, text: '{{help}}' },
    es: { subject: null, text: '{{help}}' },
  },
  offer: {
    en: {
      subject: 'An earlier appointment is available',
      text: 'Hi {{patient.firstname}}, an earlier appointment with {{provider.name}} at {{facility.name}} is available on {{appointment.date}} at {{appointment.time}}. Reply YES to book it or NO to pass. The offer ends at {{offer.expires}}.',
    },
    es: {
      subject: 'Hay una cita más temprana disponible',
      text: 'Hola {{patient.firstname}}, hay una cita más temprana con {{provider.name}} en {{facility.name}} el {{appointment.date}} a las {{appointment.time}}. Responda SÍ para reservarla o NO para dejarla. La oferta termina a las {{offer.expires}}.',
    },
  },
  'offer-parallel': {
    en: {
      subject: 'An earlier appointment is available',
      text: 'Hi {{patient.firstname}}, an earlier appointment with {{provider.name}} at {{facility.name}} is available on {{appointment.date}} at {{appointment.time}}. The first patient to reply YES gets it; if you are not free then, ignore this message. The offer ends at {{offer.expires}}.',
    },
    es: {
      subject: 'Hay una cita más temprana disponible',
      text: 'Hola {{patient.firstname}}, hay una cita más temprana con {{provider.name}} en {{facility.name}} el {{appointment.date}} a las {{appointment.time}}. El primer paciente que responda SÍ se la queda; si no puede a esa hora, ignore este mensaje. La oferta termina a las {{offer.expires}}.',
    },
  },
  'offer-pending': {
    en: {
      subject: 'We are checking your appointment',
      text: 'Thank you, {{patient.firstname}}. Our front office is checking the appointment with {{provider.name}} on {{appointment.date}} at {{appointment.time}}; another message will follow once it is confirmed.',
    },
    es: {
      subject: 'Estamos revisando su cita',
      text: 'Gracias, {{patient.firstname}}. Nuestra recepción está revisando la cita con {{provider.name}} el {{appointment.date}} a las {{appointment.time}}; le enviaremos otro mensaje cuando esté confirmada.',
    },
  },
  'offer-declined': {
    en: {
      subject: 'Appointment no longer available',
      text: 'Sorry, {{patient.firstname}}, the appointment with {{provider.name}} on {{appointment.date}} at {{appointment.time}} is no longer available.',
    },
    es: {
      subject: 'Cita ya no disponible',
      text: 'Lo sentimos, {{patient.firstname}}, la cita con {{provider.name}} el {{appointment.date}} a las {{appointment.time}} ya no está disponible.',
    },
  },
  'waitlist-invite': {
    en: {
      subject: 'Would you like another time?',
      text: 'Would you like an earlier or another time with {{provider.name}} at {{facility.name}}? Reply WAITLIST and we will text you when one opens.',
    },
    es: {
      subject: '¿Desea otra hora?',
      text: '¿Desea una hora más temprana u otra con {{provider.name}} en {{facility.name}}? Responda ESPERA y le escribiremos cuando haya una.',
    },
  },
  'waitlist-joined': {
    en: {
      subject: 'You are on the waitlist',
      text: 'You are on the waitlist for {{provider.name}} at {{facility.name}}. We will text you when a time opens.',
    },
    es: {
      subject: 'Está en la lista de espera',
      text: 'Está en la lista de espera de {{provider.name}} en {{facility.name}}. Le escribiremos cuando haya una hora disponible.',
    },
  },
  'offer-accepted': {
    en: {
      subject: 'Appointment booked',
      text: 'You got it, {{patient.firstname}}: your appointment with {{provider.name}} on {{appointment.date}} at {{appointment.time}} is booked.',
    },
    es: {
      subject: 'Cita reservada',
      text: 'Listo, {{patient.firstname}}: su cita con {{provider.name}} el {{appointment.date}} a las {{appointment.time}} está reservada.',
    },
  },
  'offer-taken': {
    en: {
      subject: 'Appointment no longer available',
      text: 'Sorry, the appointment on {{appointment.date}} at {{appointment.time}} is no longer available. You stay on the waitlist.',
    },
    es: {
      subject: 'Cita ya no disponible',
      text: 'Lo sentimos, la cita del {{appointment.date}} a las {{appointment.time}} ya no está disponible. Sigue en la lista de espera.',
    },
  },
  'voice-reminder': {
    en: {
      subject: null,
      text: 'Hello {{patient.firstname}}, this is a reminder of your appointment with {{provider.name}} at {{facility.name}} on {{appointment.date}} at {{appointment.time}}. Press 1 to confirm, or 2 to cancel.',
    },
    es: {
      subject: null,
      text: 'Hola {{patient.firstname}}, le recordamos su cita con {{provider.name}} en {{facility.name}} el {{appointment.date}} a las {{appointment.time}}. Marque 1 para confirmar o 2 para cancelar.',
    },
  },
  'voice-offer': {
    en: {
      subject: null,
      text: 'Hello {{patient.firstname}}, an earlier appointment with {{provider.name}} at {{facility.name}} is available on {{appointment.date}} at {{appointment.time}}. Press 1 to take it, or 2 to pass.',
    },
    es: {
      subject: null,
      text: 'Hola {{patient.firstname}}, hay una cita más temprana con {{provider.name}} en {{facility.name}} el {{appointment.date}} a las {{appointment.time}}. Marque 1 para tomarla o 2 para dejarla.',
    },
  },
  'voice-retry': {
    en: { subject: null, text: 'Sorry, we did not get that.' },
    es: { subject: null, text: 'Disculpe, no le entendimos.' },
  },
  'voice-goodbye': {
    en: { subject: null, text: 'We did not get an answer. Goodbye.' },
    es: { subject: null, text: 'No recibimos respuesta. Adiós.' },
  },
  'answer-received': {
    en: { subject: null, text: 'Thank you, we have your answer.' },
    es: { subject: null, text: 'Gracias, recibimos su respuesta.' },
  },
  'email-reminder-links': {
    en: { subject: null, text: 'To confirm your appointment, open {{link.confirm}}\nTo cancel it, open {{link.cancel}}' },
    es: { subject: null, text: 'Para confirmar su cita, abra {{link.confirm}}\nPara cancelarla, abra {{link.cancel}}' },
  },
  'email-offer-links': {
    en: { subject: null, text: 'To take this appointment, open {{link.accept}}\nTo pass, open {{link.decline}}' },
    es: { subject: null, text: 'Para tomar esta cita, abra {{link.accept}}\nPara dejarla, abra {{link.decline}}' },
  },
  // Referral outreach: an invitation to schedule, a text or a call, attempt after attempt until the patient books.
  'referral-outreach': {
    en: {
      subject: 'Please schedule your appointment',
      text: 'Hi {{patient.firstname}}, you were referred to {{facility.name}}. Please schedule your appointment: reply YES to be called to schedule, or call {{facility.phone}}.',
    },
    es: {
      subject: 'Programe su cita',
      text: 'Hola {{patient.firstname}}, le refirieron a {{facility.name}}. Programe su cita: responda SÍ para que le llamemos, o llame al {{facility.phone}}.',
    },
  },
  'referral-answered': {
    en: { subject: null, text: 'Thank you, {{patient.firstname}}. The clinic will call you to schedule your appointment.' },
    es: { subject: null, text: 'Gracias, {{patient.firstname}}. La clínica le llamará para programar su cita.' },
  },
  'voice-referral': {
    en: {
      subject: null,
      text: 'Hello {{patient.firstname}}, you were referred to {{facility.name}}. Press 1 to be called back to schedule your appointment.',
    },
    es: {
      subject: null,
      text: 'Hola {{patient.firstname}}, le refirieron a {{facility.name}}. Marque 1 para que le llamemos y programar su cita.',
    },
  },
  // The NPS survey after a visit, and its answers: promoters are invited to review.link (the tracked link to the
  // facility's review page), detractors are told the clinic will call, the others (and promoters of a facility with
  // no review page) are thanked.
  'feedback-request': {
    en: {
      subject: 'How was your visit?',
      text: 'Hi {{patient.firstname}}, how likely are you to recommend {{facility.name}} to a friend? Reply with a number from 0 (not at all) to 10 (extremely likely).',
    },
    es: {
      subject: '¿Cómo fue su visita?',
      text: 'Hola {{patient.firstname}}, ¿qué tan probable es que recomiende {{facility.name}} a un amigo? Responda con un número del 0 (nada) al 10 (muy probable).',
    },
  },
  'feedback-promoter': {
    en: {
      subject: 'Thank you!',
      text: 'Thank you, {{patient.firstname}}! Would you share your experience with others? {{review.link}}',
    },
    es: {
      subject: '¡Gracias!',
      text: '¡Gracias, {{patient.firstname}}! ¿Compartiría su experiencia con otros? {{review.link}}',
    },
  },
  'feedback-thanks': {
    en: { subject: 'Thank you', text: 'Thank you for your feedback, {{patient.firstname}}.' },
    es: { subject: 'Gracias', text: 'Gracias por su opinión, {{patient.firstname}}.' },
  },
  'feedback-detractor': {
    en: {
      subject: 'We are sorry',
      text: 'We are sorry your visit to {{facility.name}} was not what you hoped for, {{patient.firstname}}. Someone from the clinic will contact you.',
    },
    es: {
      subject: 'Lo sentimos',
      text: 'Lamentamos que su visita a {{facility.name}} no fuera lo que esperaba, {{patient.firstname}}. Alguien de la clínica se comunicará con usted.',
    },
  },
};

/** The built-in wording of a key in a language (English when the language has none); null for unknown keys. */
export function builtIn(key: string, language: string): Wording | null {
  const byLanguage = (BUILT_IN_TEMPLATES as Record<string, Record<string, Wording>>)[key];
  if (!byLanguage) return null;
  return byLanguage[language] ?? byLanguage['en'] ?? null;
}

/** What a template's variables are filled from. */
export interface TemplateContext {
  patient?: { firstname: string; language: string } | null;
  provider?: { name: string } | null;
  facility?: { name: string; phone?: string | null } | null;
  appointment?: { date: Date; timeZone: string } | null;
  offer?: { expireAt: Date; timeZone: string } | null;
  /** The organization as auth names it. */
  organization?: { name: string } | null;
  /** The page patients book themselves on (the facility's, else the organization's); the facility's phone stands in without one. */
  booking?: { link: string | null } | null;
  help?: string;
}

/** The values of every variable a template may use; missing ones are empty. */
export function variablesOf(context: TemplateContext, language: string): Record<string, string> {
  const appointment = context.appointment;
  const offer = context.offer;
  return {
    'patient.firstname': context.patient?.firstname ?? '',
    'provider.name': context.provider?.name ?? '',
    'facility.name': context.facility?.name ?? '',
    'facility.phone': context.facility?.phone ?? '',
    'appointment.date': appointment ? localized(appointment.date, appointment.timeZone, language, 'date') : '',
    'appointment.time': appointment ? localized(appointment.date, appointment.timeZone, language, 'time') : '',
    'offer.expires': offer ? localized(offer.expireAt, offer.timeZone, language, 'time') : '',
    'organization.name': context.organization?.name ?? '',
    'booking.link': context.booking?.link ?? context.facility?.phone ?? '',
    help: context.help ?? '',
  };
}

// Formatted instants by instant, zone, language and format. A morning's reminders fall on a clinic's few dozen slot
// times, and formatting one in luxon was most of the work of rendering a text.
const LOCALIZED_KEPT = 10_000;
const localizedTexts = new Map<string, string>();

/** An instant as a patient reads it: the long date or the short time, in the zone and language given. */
function localized(instant: Date, zone: string, language: string, format: 'date' | 'time'): string {
  const key = `${instant.getTime()}|${zone}|${language}|${format}`;
  let text = localizedTexts.get(key);
  if (text === undefined) {
    text = DateTime.fromJSDate(instant, { zone })
      .setLocale(language)
      .toLocaleString(format === 'date' ? DateTime.DATE_HUGE : DateTime.TIME_SIMPLE);
    // Bounded: dropping them all now and then costs a few formats, never memory.
    if (localizedTexts.size >= LOCALIZED_KEPT) localizedTexts.clear();
    localizedTexts.set(key, text);
  }
  return text;
}

/**
 * Whether a wording uses a variable of the group (`organization.name`, `booking.link`), whose values only then need
 * loading: built-in wordings use neither, so the reminder hot path rarely pays for them.
 */
function mentions(group: 'organization' | 'booking', ...texts: Array<string | null | undefined>): boolean {
  const pattern = new RegExp(`\\{\\{\\s*${group}\\.`);
  return texts.some((text) => text != null && pattern.test(text));
}

/**
 * The page a facility set (booking, review), else the one its organization set, among links kept per `ref` (a
 * facility's id, or the organization's own id for the organization-wide one); null when neither set one.
 */
export function facilityOrOrganizationUrl(
  links: Array<{ organization: string; ref: string; url: string | null }>,
  organization: string,
  facility: string | null | undefined,
): string | null {
  const own = links.filter((link) => link.organization === organization && link.url);
  return (own.find((link) => link.ref === facility) ?? own.find((link) => link.ref === organization))?.url ?? null;
}

/** What texts may say beyond the patient and the slot, for the organizations they were loaded for. */
export interface TextExtras {
  /** The organization as auth names it; null when unknown, or when no text mentions it. */
  readonly organization: (organization: string) => { name: string } | null;
  /** The booking page of a facility, else of its organization; null when neither set one, or when no text mentions it. */
  readonly bookingLink: (organization: string, facility: string | null | undefined) => string | null;
}

/**
 * Loads the organizations' names and booking links, each only when one of the texts about to be rendered mentions
 * it: built-in wordings use neither, so most renders skip both queries.
 */
export async function loadTextExtras(db: Db, organizations: string[], texts: Array<string | null | undefined>): Promise<TextExtras> {
  const [profiles, bookingLinks] = await Promise.all([
    mentions('organization', ...texts)
      ? db.organizationProfile.findMany({ where: { organization: { in: organizations } } })
      : Promise.resolve([]),
    mentions('booking', ...texts) ? db.bookingLink.findMany({ where: { organization: { in: organizations } } }) : Promise.resolve([]),
  ]);
  const profileOf = new Map(profiles.map((row) => [row.organization, { name: row.name }]));
  return {
    organization: (organization) => profileOf.get(organization) ?? null,
    bookingLink: (organization, facility) => facilityOrOrganizationUrl(bookingLinks, organization, facility),
  };
}

/** Fills `{{variable}}` placeholders; unknown ones become empty rather than leaking braces to patients. */
export function render(template: string, variables: Record<string, string>): string {
  return template.replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_match, name: string) => variables[name] ?? '');
}

/**
 * The wording an organization uses for a key in a language: its own in that language, its own in English, the
 * built-in one in that language, the built-in one in English; null when none exists.
 */
export async function wordingFor(
  db: Db,
  organization: string,
  key: string,
  language: string,
): Promise<(Wording & { language: string; custom: boolean }) | null> {
  const own = await db.messageTemplate.findMany({ where: { organization, key, deleted: false, language: { in: [language, 'en'] } } });
  return chooseWording(own, key, language);
}

/** {@link wordingFor} from the organization's own live wordings of the key, already loaded (the dispatcher loads a batch's at once). */
export function chooseWording(
  own: Array<{ language: string; subject: string | null; text: string }>,
  key: string,
  language: string,
): (Wording & { language: string; custom: boolean }) | null {
  const preferred = own.find((row) => row.language === language) ?? own.find((row) => row.language === 'en');
  if (preferred) return { subject: preferred.subject, text: preferred.text, language: preferred.language, custom: true };
  const fallback = builtIn(key, language);
  if (!fallback) return null;
  const builtInLanguage = (BUILT_IN_TEMPLATES as Record<string, Record<string, Wording>>)[key]![language] ? language : 'en';
  return { ...fallback, language: builtInLanguage, custom: false };
}

/**
 * Loads what templates about a patient and an appointment or an offer need from the read models; an offer's slot
 * stands in for the appointment. `texts` are the wordings (text, subject) about to be rendered with it: the
 * organization's name and booking link are loaded only when they mention them ({@link loadTextExtras}).
 */
export async function contextFor(
  db: Db,
  organization: string,
  ids: { patient?: string | null; appointment?: string | null; offer?: string | null; help?: string },
  texts: Array<string | null | undefined>,
): Promise<TemplateContext> {
  const [patient, appointment, offer, extras] = await Promise.all([
    ids.patient ? db.patientContact.findFirst({ where: { id: ids.patient, organization } }) : null,
    ids.appointment ? db.appointment.findFirst({ where: { id: ids.appointment, organization } }) : null,
    ids.offer ? db.offer.findFirst({ where: { id: ids.offer, organization } }) : null,
    loadTextExtras(db, [organization], texts),
  ]);
  const slot = appointment ?? offer;
  const [provider, facility] = await Promise.all([
    slot ? db.provider.findFirst({ where: { id: slot.provider, organization } }) : null,
    slot ? db.facility.findFirst({ where: { id: slot.facility, organization } }) : null,
  ]);
  const timeZone = facility?.timeZone ?? slot?.timeZone ?? 'UTC';
  return {
    patient: patient ? { firstname: patient.firstname, language: patient.language } : null,
    provider: provider ? { name: provider.name } : null,
    facility: facility ? { name: facility.name, phone: facility.phone } : null,
    appointment: slot ? { date: slot.date, timeZone } : null,
    offer: offer ? { expireAt: offer.expireAt, timeZone } : null,
    organization: extras.organization(organization),
    booking: { link: extras.bookingLink(organization, facility?.id) },
    ...(ids.help !== undefined ? { help: ids.help } : {}),
  };
}

/** What a message was about, and in which language it went. */
export interface MessageAbout {
  organization: string;
  patient: string;
  appointment: string | null;
  offer: string | null;
  language: string;
}

/** The organization's wording of a key, filled about what a message was about, in its language; empty when none exists. */
export async function wordingAbout(db: Db, message: MessageAbout, key: string): Promise<string> {
  const wording = await wordingFor(db, message.organization, key, message.language);
  if (!wording) return '';
  const context = await contextFor(
    db,
    message.organization,
    { patient: message.patient, appointment: message.appointment, offer: message.offer },
    [wording.text],
  );
  return render(wording.text, variablesOf(context, wording.language));
}
