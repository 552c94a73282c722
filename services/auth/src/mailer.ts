/**
 * Mails sent after the request has answered, so no answer waits on SMTP or tells by its timing whom it mailed. Each
 * send handles its own failure; {@link drain} waits for those still going out (at shutdown, before the mailer closes).
 */
export class BackgroundMail {
  private readonly sending = new Set<Promise<void>>();

  /** Lets a send run on after the answer. */
  track(sending: Promise<void>): void {
    this.sending.add(sending);
    void sending.finally(() => this.sending.delete(sending));
  }

  /** Waits for the sends still going out. */
  async drain(): Promise<void> {
    await Promise.allSettled([...this.sending]);
  }
}
