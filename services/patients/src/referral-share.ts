import { randomUUID } from 'node:crypto';
import type { ReferralStatus } from '@pep/contracts';
import { HttpProblem, type Identity, type Logger, type Mailer, mailFailure, notFound } from '@pep/service-kit';
import type { PatientsWork } from './events.js';
import type { PrismaClient, Referral, ReferringProvider } from './generated/prisma/client.js';
import { OPEN_STATUSES } from './referral-status.js';
import type { ShareBody, ShareResponse } from './referring-provider.schemas.js';

/** Days back a share without a list of referrals looks for referrals whose status changed. */
const RECENT_DAYS = 30;
/** At most this many referrals go in one mail. */
const MAX_SHARED = 200;
/** Seconds a caller is told to wait when the mail server does not take the message. */
const MAIL_RETRY_AFTER_SECONDS = 60;

const invalid = (field: string, message: string) =>
  new HttpProblem(400, 'validation', 'The request is invalid.', { errors: [{ field, message }] });

const day = (at: Date) => at.toISOString().slice(0, 10);

/** What a referring provider reads of each status: plain words, no internal names. */
function statusLine(referral: Referral): string {
  const reason = referral.statusReason ? ` (${referral.statusReason.replace(/-/g, ' ')})` : '';
  switch (referral.status as ReferralStatus) {
    case 'pending':
      return 'received, under review';
    case 'active':
      return 'we are contacting the patient to book';
    case 'called':
    case 'called-late':
      return 'the patient asked us to call them; we are arranging the appointment';
    case 'scheduled':
    case 'scheduled-late':
      return `appointment booked${referral.scheduledAt ? ` on ${day(referral.scheduledAt)}` : ''}`;
    case 'incomplete':
      return `on hold: we need more information${reason}`;
    case 'expired':
      return 'the patient did not book before the referral expired';
    case 'cancelled':
      return `cancelled${reason}`;
    case 'closed':
      return `closed${reason}`;
  }
}

/**
 * Shares referral statuses with the provider who referred the patients. E-mail goes through the service's mailer; no
 * fax vendor is integrated, so a fax share is refused rather than pretended.
 */
export class ReferralShare {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly work: PatientsWork,
    private readonly mailer: Mailer | null,
    private readonly logger: Logger,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  /**
   * Mails the status of the named referrals (default: the provider's open ones and those changed lately) to the
   * provider. 404 for another organization's provider; 400 when there is no address, or a named referral is not this
   * provider's; 409 when nothing is left to share or for fax; 503 when mail cannot be sent. Each share sent is kept
   * in `referral_share` (who, to whom, which referrals, when).
   */
  async share(identity: Identity, providerId: string, body: ShareBody, correlationId: string): Promise<ShareResponse> {
    const provider = await this.prisma.referringProvider.findFirst({
      where: { id: providerId, organization: identity.organization, deletedAt: null },
    });
    if (!provider) throw notFound('Referring provider');
    if (body.channel === 'fax') {
      throw new HttpProblem(
        409,
        'fax-not-configured',
        'Sharing by fax is not available: no fax vendor is integrated yet. Share by e-mail instead.',
      );
    }
    const to = body.email ?? provider.email;
    if (!to) throw invalid('body.email', 'the referring provider has no e-mail on file; give one in `email`, or add it to the provider');
    if (!this.mailer)
      throw new HttpProblem(503, 'mail-not-configured', 'This service has no mail transport configured, so it cannot send e-mail.');
    const referrals = await this.referralsToShare(identity, provider, body.referrals);
    const patients = await this.prisma.patient.findMany({
      where: {
        organization: identity.organization,
        deletedAt: null,
        id: { in: [...new Set(referrals.map((referral) => referral.patientId))] },
      },
      select: { id: true, firstname: true, lastname: true },
    });
    const names = new Map(patients.map((patient) => [patient.id, `${patient.firstname} ${patient.lastname}`]));
    const sentAt = this.clock();
    const lines = referrals.map(
      (referral) =>
        `- ${names.get(referral.patientId) ?? 'Patient'} (referred ${day(referral.startOn)}${referral.name ? `, for ${referral.name}` : ''}): ${statusLine(referral)}`,
    );
    try {
      await this.mailer.send({
        to,
        subject: `Update on ${referrals.length === 1 ? 'a patient' : `${referrals.length} patients`} you referred`,
        text: [
          `Dear ${provider.name},`,
          '',
          `Here is where the patients you referred to us stand, as of ${day(sentAt)}:`,
          '',
          ...lines,
          '',
          'Thank you for your referrals.',
        ].join('\n'),
      });
    } catch (error) {
      this.logger.warn({ referringProvider: provider.id, mail: mailFailure(error) }, 'referral share not sent');
      throw new HttpProblem(503, 'mail-unavailable', 'The mail server did not take the message; try again shortly.', {
        retryAfter: MAIL_RETRY_AFTER_SECONDS,
      });
    }
    // Recorded once sent, so a share the mail server refused leaves no record of a disclosure that did not happen.
    const share = await this.work.run({ correlationId }, (tx) =>
      tx.referralShare.create({
        data: {
          id: randomUUID(),
          organization: identity.organization,
          referringProviderId: provider.id,
          channel: 'email',
          recipient: to,
          referrals: referrals.map((referral) => referral.id),
          sharedBy: identity.user,
          sharedAt: sentAt,
        },
      }),
    );
    this.logger.info(
      { share: share.id, referringProvider: provider.id, referrals: referrals.length, channel: 'email' },
      'referral statuses shared',
    );
    return { _id: share.id, channel: 'email', to, referrals: share.referrals, sentAt: sentAt.toISOString() };
  }

  private async referralsToShare(identity: Identity, provider: ReferringProvider, ids: string[] | undefined): Promise<Referral[]> {
    const mine = { organization: identity.organization, referringProviderId: provider.id, deletedAt: null };
    if (ids) {
      const wanted = [...new Set(ids)];
      const found = await this.prisma.referral.findMany({ where: { ...mine, id: { in: wanted } }, orderBy: { startOn: 'asc' } });
      if (found.length !== wanted.length) {
        const known = new Set(found.map((referral) => referral.id));
        throw invalid(
          'body.referrals',
          `${wanted.filter((id) => !known.has(id)).join(', ')}: not referrals of this referring provider; list them at GET /api/providers/referring/${provider.id}/referrals`,
        );
      }
      return found;
    }
    const since = new Date(this.clock().getTime() - RECENT_DAYS * 86_400_000);
    const found = await this.prisma.referral.findMany({
      where: { ...mine, OR: [{ status: { in: [...OPEN_STATUSES] } }, { updatedAt: { gte: since } }] },
      orderBy: { startOn: 'asc' },
      take: MAX_SHARED,
    });
    if (found.length === 0) {
      throw new HttpProblem(
        409,
        'nothing-to-share',
        `This referring provider has no open referrals and none changed in the last ${RECENT_DAYS} days; name the referrals to share in \`referrals\`.`,
      );
    }
    return found;
  }
}
