import { describe, expect, it } from 'vitest';
import { documentProblems, literalOperationId, operationIdFor, preferFormats, pruneComponents, type OpenApiObject } from './openapi.js';

describe('OpenAPI conventions: operationIds, problem answers, components', () => {
  it('derives a camelCase operationId from the method and the path', () => {
    expect(operationIdFor('GET', '/api/patients')).toBe('listPatients');
    expect(operationIdFor('POST', '/api/patients')).toBe('createPatient');
    expect(operationIdFor('GET', '/api/patients/:id')).toBe('getPatient');
    expect(operationIdFor('PUT', '/api/patients/:id')).toBe('updatePatient');
    expect(operationIdFor('DELETE', '/api/availabilities/:id')).toBe('deleteAvailability');
    expect(operationIdFor('PUT', '/api/appointments/:id/confirm')).toBe('confirmAppointment');
    expect(operationIdFor('POST', '/api/patients/merge')).toBe('mergePatients');
    expect(operationIdFor('GET', '/api/patients/:id/journey')).toBe('getPatientJourney');
    expect(operationIdFor('GET', '/api/appointmentTypes/search')).toBe('getAppointmentTypesSearch');
    expect(operationIdFor('POST', '/api/groups/:id/accept-invitation')).toBe('acceptInvitationGroup');
    expect(operationIdFor('GET', '/api/reminders/findByApptId/:id')).toBe('getRemindersFindByApptIdById');
    expect(operationIdFor('GET', '/api/status')).toBe('listStatus');
    expect(operationIdFor('DELETE', '/api/referrals/batch')).toBe('deleteReferralsBatch');
    expect(literalOperationId('PUT', '/api/fileUploads/:id/binary')).toBe('putFileUploadsByIdBinary');
  });

  it('lists the problem answers an operation can give as shared responses, keeping the ones it documents', () => {
    const facts = new Map([
      ['updatePatient', { roles: ['admin'] }],
      ['login', { roles: 'public' as const }],
    ]);
    const input: OpenApiObject = {
      paths: {
        '/api/patients/{id}': {
          put: {
            operationId: 'updatePatient',
            parameters: [{ in: 'path', name: 'id' }],
            requestBody: {},
            responses: { 200: { description: 'ok' }, 409: { description: 'changed meanwhile' } },
          },
        },
        '/api/login': { get: { operationId: 'login', responses: { 200: { description: 'ok' } } } },
      },
    };
    const document = documentProblems(input, { facts: (id) => facts.get(id) });
    const update = document.paths!['/api/patients/{id}']!['put'] as { responses: Record<string, unknown> };
    expect(Object.keys(update.responses).sort()).toEqual(['200', '400', '401', '403', '404', '409', '413', '415']);
    expect(update.responses['404']).toEqual({ $ref: '#/components/responses/NotFound' });
    expect(update.responses['409']).toEqual({ description: 'changed meanwhile' });
    const login = document.paths!['/api/login']!['get'] as { responses: Record<string, unknown> };
    expect(Object.keys(login.responses)).toEqual(['200']);
    const pruned = pruneComponents(document);
    expect(Object.keys(pruned.components!.responses!).sort()).toEqual([
      'BadRequest',
      'Forbidden',
      'NotFound',
      'PayloadTooLarge',
      'Unauthorized',
      'UnsupportedMediaType',
    ]);
    // Reached through the responses, and InvalidField through Problem.
    expect(Object.keys(pruned.components!.schemas!).sort()).toEqual(['InvalidField', 'Problem']);
  });

  it('keeps the named format and drops the pattern zod writes beside it', () => {
    const uuid = { type: 'string', format: 'uuid', pattern: '^[0-9a-f-]{36}$' };
    const code = { type: 'string', pattern: '^[a-z]{2}$' };
    const document = preferFormats({
      paths: { '/api/things/{id}': { get: { parameters: [{ in: 'path', name: 'id', schema: uuid }] } } },
      components: { schemas: { Thing: { type: 'object', properties: { _id: uuid, language: code } } } },
    });
    expect(document.paths!['/api/things/{id}']!['get']).toEqual({
      parameters: [{ in: 'path', name: 'id', schema: { type: 'string', format: 'uuid' } }],
    });
    expect(document.components!.schemas!['Thing']).toEqual({
      type: 'object',
      properties: { _id: { type: 'string', format: 'uuid' }, language: code },
    });
  });
});
