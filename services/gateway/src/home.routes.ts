import type { ServiceApp } from '@pep/service-kit';
import type { FastifyReply } from 'fastify';
import { z } from 'zod';

const LINKS = { docs: '/api/docs', openapi: '/api/docs/json', status: '/api/status' } as const;

const HOME_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Patient-engagement platform</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}</style>
</head>
<body>
<h1>Patient-engagement platform</h1>
<p>This address serves the platform's REST API under <code>/api/</code>; there is no web app here.</p>
<ul>
<li><a href="${LINKS.docs}">API reference</a> (OpenAPI: <a href="${LINKS.openapi}">${LINKS.openapi}</a>)</li>
<li><a href="${LINKS.status}">Status</a> of the platform and of each service</li>
</ul>
<p>Sign up with <code>POST /api/users/signup</code>, log in with <code>POST /api/users/login</code>, and send the token as
<code>authorization: Bearer &lt;token&gt;</code> (or <code>x-access-token</code>).</p>
</body>
</html>
`;

/**
 * `GET /`: where a person who opens the platform's address in a browser is pointed (HTML), and an API client the same
 * links as JSON. Browsers name text/html in Accept; curl and HTTP libraries send * / * or JSON and get JSON.
 */
export function registerHomeRoutes(app: ServiceApp): void {
  app.get(
    '/',
    {
      config: { roles: 'public' },
      schema: {
        tags: ['status'],
        summary: 'Where the API documentation and status are',
        description: 'An HTML page when Accept names text/html (a browser), otherwise JSON with the same links.',
        response: { 200: z.object({ name: z.string(), docs: z.string(), openapi: z.string(), status: z.string() }) },
      },
    },
    async (request, reply) => {
      reply.header('vary', 'accept');
      if (/\btext\/html\b/.test(request.headers.accept ?? ''))
        return (reply as FastifyReply).type('text/html; charset=utf-8').send(HOME_PAGE);
      return { name: 'patient-engagement-platform', ...LINKS };
    },
  );
}
