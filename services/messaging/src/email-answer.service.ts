import { HttpProblem } from '@pep/service-kit';
import type { Reading } from './classify.js';
import { verifyLink, type LinkAction, type LinkKeys, type LinkKind } from './email-links.js';
import type { PrismaClient } from './generated/prisma/client.js';
import type { InboundService } from './inbound.service.js';
import { wordingAbout } from './templates.js';

/** How each link's action reads, as a reply saying the same would. */
const READINGS: Record<LinkAction, Reading> = {
  confirm: { intent: 'confirm', classification: 'positive', keyword: null },
  cancel: { intent: 'cancel', classification: 'negative', keyword: null },
  accept: { intent: 'accept-offer', classification: 'positive', keyword: null },
  decline: { intent: 'decline-offer', classification: 'negative', keyword: null },
};

const tokenField = (message: string) => [{ field: 'querystring.token', message }];

/** What the patient who opened a link is told, in the language the e-mail went in. */
export interface LinkAnswer {
  action: LinkAction;
  text: string;
  language: string;
}

/**
 * Links opened in reminder and offer e-mails. A link answers for the patient as a reply would (reply.received about
 * the e-mail's appointment or offer), once per e-mail and action: opened again, it answers as the first time did.
 */
export class EmailAnswerService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly inbound: InboundService,
    private readonly keys: LinkKeys,
  ) {}

  /** What the link would do, without doing it; 403 for a token not signed for this callback, 410 once it expired, 404 for a message gone. */
  async check(kind: LinkKind, token: string): Promise<{ action: LinkAction; language: string }> {
    const { claim, message } = await this.verified(kind, token);
    return { action: claim.action, language: message.language };
  }

  /** Applies the link's action, once per e-mail and action; refused as {@link check} refuses. */
  async open(kind: LinkKind, token: string, correlationId: string): Promise<LinkAnswer> {
    const { claim, message } = await this.verified(kind, token);
    // Scheduling decides whether an acceptance wins; the patient is told at once when the offer is known to be gone.
    const taken = claim.action === 'accept' && !(await this.inbound.offerOpen(message));
    const { outcome } = await this.inbound.answer(
      {
        answered: message,
        key: `email:${message.id}:${claim.action}`,
        text: claim.action,
        reading: READINGS[claim.action],
        outcome: taken ? 'offer-taken' : 'answer-received',
      },
      correlationId,
    );
    return { action: claim.action, text: await wordingAbout(this.prisma, message, outcome), language: message.language };
  }

  private async verified(kind: LinkKind, token: string) {
    const claim = verifyLink(this.keys, kind, token);
    if (!claim) throw new HttpProblem(403, 'bad-link', 'The link is not one the clinic sent.', { errors: tokenField('not a valid link') });
    if (claim.expiresAt <= this.inbound.clock())
      throw new HttpProblem(410, 'link-expired', 'The link has expired.', { title: 'Gone', errors: tokenField('expired') });
    const message = await this.prisma.message.findFirst({
      where: { id: claim.message, type: 'outbound', channel: 'email', deleted: false },
    });
    if (!message)
      throw new HttpProblem(404, 'not-found', 'The e-mail of this link no longer exists.', { errors: tokenField('unknown e-mail') });
    return { claim, message };
  }
}
