import { HttpProblem, type ServiceApp } from '@pep/service-kit';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';
import { clientAddress } from './client-address.js';
import type { PasswordResetService } from './password-reset.service.js';
import { resetPasswordBody } from './user.schemas.js';

// Any token is looked up (an unknown one shows the invalid-link page), so a mangled link never gets a JSON error.
const tokenParams = z.object({ token: z.string().max(200) });
const formBody = z.object({ password: z.string().optional(), confirm: z.string().optional() });

/** An HTML page; every text in it is ours (nothing the caller sent is echoed), so nothing needs escaping. */
function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem}label{display:block;margin:1rem 0 .25rem}input{width:100%;font:inherit;padding:.4rem;box-sizing:border-box}button{margin-top:1rem;font:inherit;padding:.4rem 1rem}.problem{color:#a00}</style>
</head>
<body>
<h1>${title}</h1>
${body}
</body>
</html>
`;
}

// A plain form posting to this same address: no script, so the gateway's CSP (script-src 'self') has nothing to block.
const form = (problem?: string) =>
  page(
    'Choose a new password',
    `${problem ? `<p class="problem" role="alert">${problem}</p>\n` : ''}<form method="post">
<label for="password">New password (at least 10 characters)</label>
<input id="password" name="password" type="password" autocomplete="new-password" minlength="10" maxlength="256" required>
<label for="confirm">The same password again</label>
<input id="confirm" name="confirm" type="password" autocomplete="new-password" minlength="10" maxlength="256" required>
<button type="submit">Set the password</button>
</form>`,
  );

const INVALID_LINK = page(
  'This link no longer works',
  '<p>The link is invalid, has expired (links last an hour) or has already been used. Ask for a new one with ' +
    '<code>POST /api/users/forgot-password {"email": "..."}</code>, or ask an administrator of your organization to send one.</p>',
);
const CHANGED = page(
  'Your password has been changed',
  '<p>Log in with your e-mail and the new password (<code>POST /api/users/login</code>). Every earlier session has been signed out.</p>',
);

// No script, no other origin; and no upgrade-insecure-requests, which could send the form to https:// on a laptop's
// http://localhost platform.
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

function html(reply: FastifyReply, status: number, content: string) {
  // The address holds a secret: never cached, never sent on as a referrer.
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .header('referrer-policy', 'no-referrer')
    .header('content-security-policy', PAGE_CSP)
    .type('text/html; charset=utf-8')
    .send(content);
}

/**
 * `GET /reset-password/:token` (the page the reset and welcome e-mails link to) and its form's
 * `POST /reset-password/:token`: the same rules as `POST /api/users/reset-password/:token`, answered in HTML.
 */
export function registerPasswordResetPageRoutes(app: ServiceApp, resets: PasswordResetService): void {
  app.register(async (scope) => {
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 4096 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    const route = { hide: true, params: tokenParams };

    scope.get('/reset-password/:token', { schema: route, config: { roles: 'public' } }, async (request, reply) => {
      const { token } = request.params as z.output<typeof tokenParams>;
      try {
        await resets.check(token);
      } catch (error) {
        if (error instanceof HttpProblem) return html(reply, error.status, INVALID_LINK);
        throw error;
      }
      return html(reply, 200, form());
    });

    scope.post('/reset-password/:token', { schema: { ...route, body: formBody }, config: { roles: 'public' } }, async (request, reply) => {
      const { token } = request.params as z.output<typeof tokenParams>;
      const { password = '', confirm = '' } = request.body as z.output<typeof formBody>;
      const valid = resetPasswordBody.safeParse({ password });
      if (!valid.success)
        return html(reply, 400, form(`The password must have ${valid.error.issues[0]?.message ?? 'between 10 and 256 characters'}.`));
      if (password !== confirm) return html(reply, 400, form('The two passwords differ; type the same one twice.'));
      try {
        await resets.reset(token, password, clientAddress(request), request.id);
      } catch (error) {
        if (!(error instanceof HttpProblem)) throw error;
        if (error.status === 429) return html(reply, 429, form('Too many attempts from this address; wait a few minutes and try again.'));
        return html(reply, error.status, INVALID_LINK);
      }
      return html(reply, 200, CHANGED);
    });
  });
}
