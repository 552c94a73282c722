import { describe, expect, it } from 'vitest';
import { createEvent, EventContractError, parseEvent } from '../registry.js';
import { demoUserMessageRequestedV1, organizationCreatedV1, settingsChangedV1, widgetCreatedV1, widgetUpdatedV1 } from './auth.js';

const id = '0b0f4a4e-8a53-4a5e-9d1f-0f7d5d1c2b3a';
const source = '/services/auth';

describe('auth event contracts', () => {
  it('reads organization events with and without the demo flag added within v1', () => {
    const old = createEvent(organizationCreatedV1, {
      source,
      organization: id,
      subject: id,
      data: { _id: id, name: 'Clinic', active: true },
    });
    const demo = createEvent(organizationCreatedV1, {
      source,
      organization: id,
      subject: id,
      data: { _id: id, name: 'Trial', active: true, demo: true },
    });
    expect(parseEvent(JSON.stringify(old)).data).toEqual({ _id: id, name: 'Clinic', active: true });
    expect(parseEvent(JSON.stringify(demo)).data).toMatchObject({ demo: true });
  });

  it('carries a demo message request to messaging with a channel it can send on', () => {
    const data = {
      _id: id,
      salesforceId: 'SF00000001',
      messageTemplate: 'reminder',
      channel: 'sms' as const,
      to: '+15551234567',
      requestedBy: id,
    };
    const event = createEvent(demoUserMessageRequestedV1, { source, organization: id, subject: id, data });
    expect(event).toMatchObject({ type: 'demo-user.message-requested', dataversion: 1 });
    expect(parseEvent(JSON.stringify(event)).data).toEqual(data);
    expect(() =>
      createEvent(demoUserMessageRequestedV1, { source, organization: id, subject: id, data: { ...data, channel: 'fax' } as never }),
    ).toThrow(EventContractError);
    expect(() =>
      createEvent(demoUserMessageRequestedV1, { source, organization: id, subject: id, data: { ...data, messageTemplate: '' } }),
    ).toThrow(EventContractError);
  });

  it("carries an organization's own send quota only with whole, positive limits it knows", () => {
    const data = (sendQuota: unknown) => ({
      _id: id,
      organization: id,
      ref: 'organization' as const,
      refId: id,
      settings: { sendQuota },
      unsubscribed: [],
      unsubscribedAll: false,
      deleted: false,
    });
    const event = createEvent(settingsChangedV1, {
      source,
      organization: id,
      subject: id,
      data: data({ patientPerHour: 5, organizationPerDay: 2000 }) as never,
    });
    expect(parseEvent(JSON.stringify(event)).data).toMatchObject({
      settings: { sendQuota: { patientPerHour: 5, organizationPerDay: 2000 } },
    });
    for (const invalid of [{ patientPerHour: 0 }, { patientPerHour: 2.5 }, { perWeek: 10 }, 'lots']) {
      expect(
        () => createEvent(settingsChangedV1, { source, organization: id, subject: id, data: data(invalid) as never }),
        JSON.stringify(invalid),
      ).toThrow(EventContractError);
    }
  });

  it('describes widgets without their key, and names what an update changed', () => {
    const snapshot = { _id: id, name: 'Booking', allowedOrigins: ['https://clinic.example'], active: true };
    expect(createEvent(widgetCreatedV1, { source, organization: id, subject: id, data: snapshot }).data).toEqual(snapshot);
    expect(() => createEvent(widgetUpdatedV1, { source, organization: id, subject: id, data: { ...snapshot, changed: [] } })).toThrow(
      EventContractError,
    );
    expect(widgetUpdatedV1.data.safeParse({ ...snapshot, changed: ['active'] }).success).toBe(true);
  });
});
