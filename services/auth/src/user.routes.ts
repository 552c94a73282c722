import { callerOf, type ServiceApp } from '@pep/service-kit';
import { clientAddress } from './client-address.js';
import type { PasswordResetService } from './password-reset.service.js';
import { ADMIN, ANYONE, STAFF } from './roles.js';
import type { SessionService } from './session.service.js';
import {
  acceptedResponse,
  forgotPasswordBody,
  idParams,
  listOf,
  listQuery,
  loginBody,
  resetPasswordBody,
  resetTokenParams,
  sessionResponse,
  signupBody,
  signupResponse,
  updateUserBody,
  userResponse,
} from './user.schemas.js';
import type { UserService } from './user.service.js';
import { z } from 'zod';

const TAGS = ['users'];

/** Routes of the `users` group: signup, logins, password resets and the organization's users. */
export function registerUserRoutes(app: ServiceApp, users: UserService, sessions: SessionService, resets: PasswordResetService): void {
  app.post(
    '/api/users/signup',
    {
      config: { roles: 'public' },
      schema: {
        operationId: 'signUp',
        tags: TAGS,
        summary: 'Sign up a new organization and its first admin',
        description: 'Creates the organization and its first user (role admin), signed in. A taken e-mail answers 409.',
        body: signupBody,
        response: { 200: signupResponse },
      },
    },
    async (request) => users.signup(request.body, clientAddress(request), request.id),
  );

  app.post(
    '/api/users/login',
    {
      config: { roles: 'public' },
      schema: {
        operationId: 'logIn',
        tags: TAGS,
        summary: 'Log in with e-mail and password',
        description:
          'Answers a token pair. A wrong e-mail and a wrong password answer the same 401; repeated failures per account ' +
          'and per address answer 429 with Retry-After.',
        body: loginBody,
        response: { 200: sessionResponse },
      },
    },
    async (request) => sessions.login(request.body, clientAddress(request)),
  );

  app.post(
    '/api/users/forgot-password',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'E-mail a password reset link',
        description: 'Always answers the same, whether or not the e-mail has an account. Rate limited.',
        body: forgotPasswordBody,
        response: { 200: acceptedResponse },
      },
    },
    async (request) => resets.forgot(request.body.email, clientAddress(request)),
  );

  app.get(
    '/api/users/reset-password/:token',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'Check a password reset link',
        description: '200 while the link can be used, 400 otherwise. REST conventions are followed.',
        params: resetTokenParams,
        response: { 200: z.object({ valid: z.literal(true), expiresAt: z.string() }) },
      },
    },
    async (request) => resets.check(request.params.token),
  );

  app.post(
    '/api/users/reset-password/:token',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'Set a new password with a reset link',
        description: 'The link works once, within an hour; every session of the user is revoked.',
        params: resetTokenParams,
        body: resetPasswordBody,
        response: { 200: acceptedResponse },
      },
    },
    async (request) => resets.reset(request.params.token, request.body.password, clientAddress(request), request.id),
  );

  app.get(
    '/api/users',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: "The organization's users",
        description: 'Paged with page/limit.',
        querystring: listQuery,
        response: { 200: listOf(userResponse) },
      },
    },
    async (request) => users.list(callerOf(request), request.query),
  );

  app.get(
    '/api/users/:id',
    { config: { roles: STAFF }, schema: { tags: TAGS, summary: 'Get a user', params: idParams, response: { 200: userResponse } } },
    async (request) => users.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/users/:id',
    {
      config: { roles: ANYONE },
      schema: {
        tags: TAGS,
        summary: 'Change a user',
        description: 'Users change themselves; admins change anyone in their organization, and roles (not their own).',
        params: idParams,
        body: updateUserBody,
        response: { 200: userResponse },
      },
    },
    async (request) => users.update(callerOf(request), request.params.id, request.body, request.id),
  );

  app.post(
    '/api/users/decommission/:id',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Decommission a user',
        description: 'Deactivates the user in the organization and revokes their sessions there.',
        params: idParams,
        response: { 200: userResponse },
      },
    },
    async (request) => users.decommission(callerOf(request), request.params.id, request.id),
  );
}
