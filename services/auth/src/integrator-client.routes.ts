import { callerOf, type ServiceApp } from '@pep/service-kit';
import { clientAddress } from './client-address.js';
import {
  createdIntegratorClientResponse,
  createIntegratorClientBody,
  integratorClientResponse,
  integratorLoginBody,
  integratorTokenResponse,
  updateIntegratorClientBody,
} from './integrator-client.schemas.js';
import type { IntegratorClientService } from './integrator-client.service.js';
import { ADMIN } from './roles.js';
import { idParams, listOf, listQuery } from './user.schemas.js';

const TAGS = ['integratorClients'];

/** Routes of the `integratorClients` group: admins manage their organization's clients; clients log in. */
export function registerIntegratorClientRoutes(app: ServiceApp, clients: IntegratorClientService): void {
  app.post(
    '/api/integratorClients/login',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'Log in as an integrator client',
        description:
          'Answers an access token of kind integrator carrying the client’s roles; no refresh token, log in again. Any ' +
          'wrong, unknown, inactive or deleted client answers the same 401; repeated failures answer 429.',
        body: integratorLoginBody,
        response: { 200: integratorTokenResponse },
      },
    },
    async (request) => clients.login(request.body, clientAddress(request)),
  );

  app.get(
    '/api/integratorClients',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: "The organization's integrator clients",
        description: 'Paged with page/limit.',
        querystring: listQuery,
        response: { 200: listOf(integratorClientResponse) },
      },
    },
    async (request) => clients.list(callerOf(request), request.query),
  );
  app.post(
    '/api/integratorClients',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Register an integrator client',
        description: 'Answers the client with its secret, which is shown only this once.',
        body: createIntegratorClientBody,
        response: { 200: createdIntegratorClientResponse },
      },
    },
    async (request) => clients.create(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/integratorClients/:id',
    {
      config: { roles: ADMIN },
      schema: { tags: TAGS, summary: 'Get an integrator client', params: idParams, response: { 200: integratorClientResponse } },
    },
    async (request) => clients.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/integratorClients/:id',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Change an integrator client',
        description: 'Rename, change roles, or deactivate (its logins then fail).',
        params: idParams,
        body: updateIntegratorClientBody,
        response: { 200: integratorClientResponse },
      },
    },
    async (request) => clients.update(callerOf(request), request.params.id, request.body, request.id),
  );

  app.delete(
    '/api/integratorClients/:id',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Delete an integrator client',
        description: 'Its secret logs in no more; answers the deleted record.',
        params: idParams,
        response: { 200: integratorClientResponse },
      },
    },
    async (request) => clients.remove(callerOf(request), request.params.id, request.id),
  );
}
