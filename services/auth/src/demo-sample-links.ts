import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { demoSamples } from '@pep/contracts';

const LINK_TTL_MS = 30 * 86_400_000;

/**
 * Links a salesperson opens in a browser to send a sample (GET of the sample path), which carries no access token: each
 * link is signed for one demo account and sample and expires after 30 days.
 */
export class DemoSampleLinks {
  private readonly key: Buffer;

  constructor(
    secret: string,
    private readonly publicUrl: string,
    private readonly clock: () => Date,
  ) {
    // A key of its own, so a link's signature says nothing about the secret that also protects the signing keys.
    this.key = createHash('sha256').update(`demo-sample-links:${secret}`).digest();
  }

  /** A signed link per sample for a demo account. */
  linksFor(salesforceId: string): Record<string, string> {
    const expires = this.clock().getTime() + LINK_TTL_MS;
    const base = this.publicUrl.replace(/\/$/, '');
    return Object.fromEntries(
      demoSamples.map((sample) => [
        sample,
        `${base}/api/demoUsers/${salesforceId}/messages/${sample}?expires=${expires}&signature=${this.sign(salesforceId, sample, expires)}`,
      ]),
    );
  }

  /** Whether a link's signature is this service's for this account and sample, and has not expired. */
  verify(salesforceId: string, sample: string, expires: number | undefined, signature: string | undefined): boolean {
    if (expires === undefined || signature === undefined || expires < this.clock().getTime()) return false;
    const expected = Buffer.from(this.sign(salesforceId, sample, expires));
    const given = Buffer.from(signature);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  private sign(salesforceId: string, sample: string, expires: number): string {
    return createHmac('sha256', this.key).update(`${salesforceId}\n${sample}\n${expires}`).digest('base64url');
  }
}
