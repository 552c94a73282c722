import twilio from 'twilio';
import type { Reading } from './classify.js';
import type { Message, PrismaClient } from './generated/prisma/client.js';
import type { InboundService } from './inbound.service.js';
import { wordingAbout } from './templates.js';

/** The fields of Twilio's voice webhooks (the call answered, a Gather's result) messaging reads. */
export interface VoiceCall {
  CallSid: string;
  Digits?: string | undefined;
}

/** Which ask of the call a request answers: none yet (the call was just answered), the first, or the repeat. */
export type Step = 0 | 1 | 2;

// Voices Twilio's <Say> has, by the patient's ISO 639-1 language; the vendor adapter places calls in the same ones.
export const VOICE_LANGUAGES: Record<string, 'en-US' | 'es-US' | 'fr-FR' | 'de-DE'> = {
  en: 'en-US',
  es: 'es-US',
  fr: 'fr-FR',
  de: 'de-DE',
};

/** What pressing 1 and 2 mean in a call about an appointment or about an offer. */
const KEYS: Record<'reminder' | 'offer', Record<string, Reading>> = {
  reminder: {
    '1': { intent: 'confirm', classification: 'positive', keyword: '1' },
    '2': { intent: 'cancel', classification: 'negative', keyword: '2' },
  },
  offer: {
    '1': { intent: 'accept-offer', classification: 'positive', keyword: '1' },
    '2': { intent: 'decline-offer', classification: 'negative', keyword: '2' },
  },
};

/** What a call asks: reminders and offers ask for a key; anything else (acknowledgements, staff's messages) is only said. */
function purposeOf(message: Message): 'reminder' | 'offer' | null {
  if (message.key === 'offer' && message.offer) return 'offer';
  if (message.key === 'reminder' && message.appointment) return 'reminder';
  return null;
}

/**
 * Reminder and offer calls. When the patient picks up, the call says the reminder or the offer and asks for a key:
 * 1 confirms (takes the offer), 2 cancels (passes); anything else, or nothing, asks once more, then the call ends.
 * A key pressed is answered as a reply would be (reply.received), once per call and ask however often Twilio
 * repeats the request. Everything is answered as TwiML.
 */
export class VoiceService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly inbound: InboundService,
    private readonly publicUrl: string,
  ) {}

  /** The TwiML answering a request of a call at a step; `path` is the callback Twilio called, where the next ask goes too. */
  async respond(path: string, call: VoiceCall, step: Step, correlationId: string): Promise<string> {
    const response = new twilio.twiml.VoiceResponse();
    const message = await this.prisma.message.findFirst({
      where: { externalId: call.CallSid, type: 'outbound', channel: 'voice', deleted: false },
    });
    if (!message) {
      // Not a call messaging placed (or no longer on record): nothing to say to whoever answered.
      response.hangup();
      return response.toString();
    }
    const voice = { language: VOICE_LANGUAGES[message.language] ?? 'en-US' };
    const say = async (key: string) => response.say(voice, await wordingAbout(this.prisma, message, key));
    const purpose = purposeOf(message);
    if (!purpose) {
      response.say(voice, message.text);
      response.hangup();
      return response.toString();
    }
    const reading = step > 0 ? KEYS[purpose][call.Digits ?? ''] : undefined;
    if (reading) {
      // Scheduling decides whether an acceptance wins; the patient is told at once when the offer is known to be gone.
      const taken = reading.intent === 'accept-offer' && !(await this.inbound.offerOpen(message));
      const { outcome } = await this.inbound.answer(
        {
          answered: message,
          key: `${call.CallSid}:${step}`,
          text: call.Digits!,
          reading,
          outcome: taken ? 'offer-taken' : 'answer-received',
        },
        correlationId,
      );
      await say(outcome);
      response.hangup();
      return response.toString();
    }
    if (step === 2) {
      await say('voice-goodbye');
      response.hangup();
      return response.toString();
    }
    if (step === 0 && purpose === 'offer' && !(await this.inbound.offerOpen(message))) {
      await say('offer-taken');
      response.hangup();
      return response.toString();
    }
    if (step === 1) await say('voice-retry');
    // With actionOnEmptyResult, silence comes back as a Gather result too, so a missed ask is asked again.
    const gather = response.gather({
      numDigits: 1,
      timeout: 6,
      action: `${this.publicUrl.replace(/\/+$/, '')}${path}?step=${step + 1}`,
      method: 'POST',
      actionOnEmptyResult: true,
    });
    gather.say(voice, await wordingAbout(this.prisma, message, purpose === 'offer' ? 'voice-offer' : 'voice-reminder'));
    return response.toString();
  }
}
