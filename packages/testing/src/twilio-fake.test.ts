import { afterEach, describe, expect, it } from 'vitest';
import { startTwilioFake, type TwilioFake } from './twilio-fake.js';

describe('the Twilio fake’s fault modes', () => {
  let fake: TwilioFake | undefined;
  afterEach(async () => {
    await fake?.close();
  });

  const send = (twilio: TwilioFake) =>
    fetch(`${twilio.url}/2010-04-01/Accounts/${twilio.accountSid}/Messages.json`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${twilio.accountSid}:${twilio.authToken}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ To: '+12125550100', From: twilio.from, Body: 'hello' }).toString(),
    });

  it('takes messages and confirms them when well', async () => {
    fake = await startTwilioFake();
    expect((await send(fake)).status).toBe(201);
    expect(fake.sent).toEqual([
      expect.objectContaining({ kind: 'message', unconfirmed: false, params: expect.objectContaining({ Body: 'hello' }) }),
    ]);
  });

  it('answers 500 and takes nothing in error mode', async () => {
    fake = await startTwilioFake();
    fake.fault = 'error';
    expect((await send(fake)).status).toBe(500);
    expect([fake.sent.length, fake.faulted]).toEqual([0, 1]);
  });

  it('takes the message but drops the connection unanswered in timeout mode', async () => {
    fake = await startTwilioFake();
    fake.fault = 'timeout';
    fake.hangMs = 50;
    await expect(send(fake)).rejects.toThrow();
    expect(fake.sent).toEqual([expect.objectContaining({ kind: 'message', unconfirmed: true })]);
    expect(fake.faulted).toBe(1);
  });
});
