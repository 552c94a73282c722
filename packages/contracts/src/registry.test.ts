import { describe, expect, it } from 'vitest';
import { patientCreatedV1 } from './index.js';
import { createEvent, EventContractError, listEventDefinitions, parseEvent } from './registry.js';

const patient = {
  _id: '0b0f4a4e-8a53-4a5e-9d1f-0f7d5d1c2b3a',
  firstname: 'Ada',
  lastname: 'Lovelace',
  phone: '+15551234567',
  email: null,
  dateOfBirth: null,
  doNotContact: false,
};

describe('event contracts', () => {
  it('builds a CloudEvents-shaped envelope that parses back to the same event', () => {
    const event = createEvent(patientCreatedV1, {
      source: '/services/patients',
      organization: 'org-1',
      subject: patient._id,
      data: patient,
    });
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'patient.created',
      dataversion: 1,
      subject: patient._id,
      correlationid: event.id,
    });
    expect(parseEvent(JSON.stringify(event))).toEqual(event);
  });

  it('refuses to build an event whose data breaks its schema', () => {
    expect(() =>
      createEvent(patientCreatedV1, {
        source: '/services/patients',
        organization: 'org-1',
        subject: patient._id,
        data: { ...patient, doNotContact: 'no' } as never,
      }),
    ).toThrow(EventContractError);
  });

  it('refuses a malformed envelope and a registered event with bad data', () => {
    expect(() => parseEvent({ id: 'x' })).toThrow(EventContractError);
    const event = createEvent(patientCreatedV1, { source: '/s', organization: 'o', subject: patient._id, data: patient });
    expect(() => parseEvent({ ...event, data: { ...patient, firstname: 3 } })).toThrow(EventContractError);
  });

  it('lets consumers skip event types they do not know', () => {
    const event = createEvent(patientCreatedV1, { source: '/s', organization: 'o', subject: patient._id, data: patient });
    const future = { ...event, type: 'patient.teleported', data: { anything: true } };
    expect(parseEvent(future).data).toEqual({ anything: true });
  });

  it('puts every event type on a topic named <producing service>.<aggregate>', () => {
    const definitions = listEventDefinitions();
    expect(definitions.length).toBeGreaterThan(20);
    for (const definition of definitions) {
      expect(definition.topic).toMatch(/^(auth|patients|scheduling|messaging|billing)\.[a-z-]+$/);
      expect(definition.type).toMatch(/^[a-z-]+\.[a-z-]+$/);
    }
  });
});
