import { HttpProblem, type ServiceApp } from '@pep/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { EmailAnswerService } from './email-answer.service.js';
import { LINK_PATHS, type LinkAction, type LinkKind } from './email-links.js';

const linkQuery = z.object({ token: z.string().min(1).max(256).describe('The signed token the e-mail’s link carries.') });

// Refusals say nothing about the patient or the clinic: whoever holds a bad link learns only that it is bad.
const REFUSALS: Record<number, string> = {
  403: 'This link is not valid.',
  404: 'This link is no longer valid.',
  410: 'This link has expired.',
};

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/** A page small enough for any phone's browser, saying one thing, with a button when there is something to do. */
function page(text: string, language: string, button?: { label: string; action: string }): string {
  const form = button
    ? `<form method="post" action="${escapeHtml(button.action)}"><button type="submit">${escapeHtml(button.label)}</button></form>`
    : '';
  return `<!doctype html><html lang="${escapeHtml(language)}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(text)}</title></head><body><main><p>${escapeHtml(text)}</p>${form}</main></body></html>`;
}

/** What the page opened from a link asks before anything happens, and its button, per language (English otherwise). */
const QUESTIONS: Record<string, Record<LinkAction, string> & { yes: string }> = {
  en: {
    confirm: 'Confirm your appointment?',
    cancel: 'Cancel your appointment?',
    accept: 'Take this appointment?',
    decline: 'Pass on this appointment?',
    yes: 'Yes',
  },
  es: {
    confirm: '¿Confirma su cita?',
    cancel: '¿Cancela su cita?',
    accept: '¿Acepta esta cita?',
    decline: '¿Rechaza esta cita?',
    yes: 'Sí',
  },
};

const questionOf = (action: LinkAction, language: string) => {
  const wording = QUESTIONS[language] ?? QUESTIONS['en']!;
  return { question: wording[action], yes: wording.yes };
};

/** Browsers ask for HTML first; API clients and scripts that do not get JSON and problem documents. */
const wantsHtml = (request: FastifyRequest) => /\btext\/html\b/i.test(request.headers.accept ?? '');

const SUMMARIES: Record<LinkKind, string> = {
  reminders: 'A patient opened the confirm or cancel link of a reminder e-mail',
  offers: 'A patient opened the accept or decline link of an offer e-mail',
};

/** Answers a refusal as a page to browsers; anything else goes on to the problem+json handler. */
function refusal(error: unknown, request: FastifyRequest, reply: FastifyReply) {
  if (!(error instanceof HttpProblem) || !wantsHtml(request) || !REFUSALS[error.status]) throw error;
  return reply.code(error.status).type('text/html; charset=utf-8').send(page(REFUSALS[error.status]!, 'en'));
}

/**
 * The links reminder and offer e-mails carry, at `/api/callback/email/reminders` and `/offers`. The token names the
 * e-mail and one action, expires when the appointment begins or the offer ends, and is signed, so a link cannot be
 * forged or turned into another action; it carries no patient data. Opening the link (GET) only asks; the answer is
 * the POST its page's button sends. Mail scanners and link previews open every link in a message, and must not
 * confirm, cancel or take an appointment on the patient's behalf.
 */
export function registerEmailCallbackRoutes(scope: ServiceApp, answers: EmailAnswerService): void {
  for (const kind of Object.keys(LINK_PATHS) as LinkKind[]) {
    const what = kind === 'reminders' ? 'confirms or cancels the appointment' : 'accepts or declines the offer';
    scope.get(
      LINK_PATHS[kind].path,
      {
        config: { roles: 'public' },
        schema: {
          tags: ['callback'],
          summary: `${SUMMARIES[kind]}: the question`,
          description:
            `Changes nothing: browsers (Accept: text/html) get a small page, in the e-mail's language, asking whether to go ahead, whose button POSTs to the same URL, which ${what}. ` +
            'Mail scanners open every link of a message, so opening one must not answer for the patient. Other clients get JSON `{action, question}`. ' +
            'Refusals: 403 for a link not signed for this callback (tampered), 410 once it expired, as a page or problem+json. Answers are not cached and send no referrer.',
          querystring: linkQuery,
        },
      },
      async (request, reply) => {
        // The token is a credential: keep it out of caches and out of any referrer the page could send.
        reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
        try {
          const { action, language } = await answers.check(kind, request.query.token);
          const { question, yes } = questionOf(action, language);
          if (!wantsHtml(request)) return { action, question };
          const self = `${LINK_PATHS[kind].path}?token=${encodeURIComponent(request.query.token)}`;
          return reply.type('text/html; charset=utf-8').send(page(question, language, { label: yes, action: self }));
        } catch (error) {
          return refusal(error, request, reply);
        }
      },
    );
    scope.post(
      LINK_PATHS[kind].path,
      {
        config: { roles: 'public' },
        schema: {
          tags: ['callback'],
          summary: `${SUMMARIES[kind]}: the answer`,
          description:
            `The button of the link's page: ${what} the e-mail was about, as a reply would (published as reply.received for scheduling). ` +
            'Sent again, it answers as the first time and changes nothing more. Browsers get a page, other clients JSON `{action, text}` (text: what the patient is told); ' +
            'refusals as for GET, and nothing changes on a refusal.',
          querystring: linkQuery,
        },
      },
      async (request, reply) => {
        reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer');
        try {
          const answer = await answers.open(kind, request.query.token, request.id);
          if (wantsHtml(request)) return reply.type('text/html; charset=utf-8').send(page(answer.text, answer.language));
          return { action: answer.action, text: answer.text };
        } catch (error) {
          return refusal(error, request, reply);
        }
      },
    );
  }
}
