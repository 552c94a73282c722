import type { Message, MessageTemplate, PatientMessageTemplate, Reminder } from './generated/prisma/client.js';
import type { MessageResponse } from './message.schemas.js';
import type { ReminderResponse } from './reminder.schemas.js';
import { recordView, rootAccountOf } from './schemas.js';
import type { MessageTemplateResponse, PatientTemplateResponse } from './template.schemas.js';

// Prisma spells enum values with dashes as identifiers; the API speaks the product's names.
const dashed = <T extends string>(value: string) => value.replace(/_/g, '-') as T;

/** The product's reminder type as the database enum spells it. */
export function reminderTypeOf(type: ReminderResponse['type']): Reminder['type'] {
  return type.replace(/-/g, '_') as Reminder['type'];
}

/** A reminder as the API shows it. */
export function toReminderResponse(reminder: Reminder): ReminderResponse {
  return {
    ...recordView(reminder),
    appointment: reminder.appointment,
    offer: reminder.offer,
    referral: reminder.referral,
    referralAttempt: reminder.referralAttempt,
    patient: reminder.patient,
    provider: reminder.provider,
    facility: reminder.facility,
    type: dashed(reminder.type),
    channel: reminder.channel,
    offsetHours: reminder.offsetHours,
    sendAt: reminder.sendAt.toISOString(),
    sentAt: reminder.sentAt?.toISOString() ?? null,
    status: reminder.status,
    statusReason: reminder.statusReason,
    messageTemplate: reminder.messageTemplate,
    message: reminder.message,
    text: reminder.text,
    forcedTime: reminder.forcedTime,
  };
}

/** A message as the API shows it. */
export function toMessageResponse(message: Message): MessageResponse {
  return {
    ...recordView(message),
    patient: message.patient,
    type: message.type,
    direction: message.type,
    channel: message.channel,
    status: message.status,
    skippedStatusReason: message.skippedStatusReason,
    key: message.key,
    from: message.from,
    to: message.to,
    subject: message.subject,
    text: message.text,
    language: message.language,
    externalId: message.externalId === null ? null : { value: message.externalId },
    externalStatus: (message.externalStatus as Record<string, unknown> | null) ?? null,
    classification: message.classification ? dashed<NonNullable<MessageResponse['classification']>>(message.classification) : null,
    automated: message.automated,
    appointment: message.appointment,
    reminder: message.reminder,
    offer: message.offer,
    terminatingStateAt: message.terminatingStateAt?.toISOString() ?? null,
  };
}

/** An organization's template as the API shows it. */
export function toTemplateResponse(template: MessageTemplate): MessageTemplateResponse {
  return {
    _id: template.id,
    organization: template.organization,
    user: rootAccountOf(template.organization),
    key: template.key,
    language: template.language,
    description: template.description,
    subject: template.subject,
    text: template.text,
    builtIn: false,
    deleted: template.deleted ? 1 : 0,
    createdAt: template.createdAt.toISOString(),
    updatedAt: template.updatedAt.toISOString(),
  };
}

/** A patient message template as the API shows it. */
export function toPatientTemplateResponse(template: PatientMessageTemplate): PatientTemplateResponse {
  return { ...recordView(template), name: template.name, text: template.text, language: template.language };
}
