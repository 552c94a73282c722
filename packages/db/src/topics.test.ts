import { describe, expect, it } from 'vitest';
import { assertGroupDeclared, serviceTopics } from './topics.js';

describe('serviceTopics', () => {
  it('publishes the registered topics of the service and adds the organization guard group', () => {
    const topics = serviceTopics('patients', { journey: ['scheduling.appointment', 'patients.patient', 'patients.patient'] });
    expect(topics.publishes).toContain('patients.patient');
    expect(topics.publishes.every((topic) => topic.startsWith('patients.'))).toBe(true);
    expect(topics.groups).toEqual({
      'patients.organization-access': ['auth.organization'],
      'patients.journey': ['patients.patient', 'scheduling.appointment'],
    });
    expect(topics.deadLetters).toBe(true);
    expect(Object.keys(serviceTopics('auth', {}, { guardOrganizations: false }).groups)).toEqual([]);
  });
});

describe('assertGroupDeclared', () => {
  const topics = serviceTopics('svc', { reader: ['a.one', 'b.two'] }, { guardOrganizations: false });

  it('accepts a group reading exactly its declared topics, in any order', () => {
    expect(() => assertGroupDeclared(topics, 'svc.reader', ['b.two', 'a.one', 'a.one'])).not.toThrow();
  });

  it('refuses a group reading another topic, or not declared at all, saying what to update', () => {
    expect(() => assertGroupDeclared(topics, 'svc.reader', ['a.one'])).toThrow(
      /reads \[a\.one\] but svc's topics\.ts declares \[a\.one, b\.two\]/,
    );
    expect(() => assertGroupDeclared(topics, 'svc.other', ['a.one'])).toThrow(/declares no such group/);
  });
});
