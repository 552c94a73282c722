import type { DemoMessageResponse } from './demo-user.service.js';

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** What a salesperson's browser shows after opening a sample link: which sample went out, and to whom (the demo patient). */
export function sentPage(sent: DemoMessageResponse): string {
  const variant = sent.type ? ` (${escape(sent.type)})` : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sample sent</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code{background:#f3f3f3;padding:0 .25rem}</style>
</head><body>
<h1>Sample sent</h1>
<p>The sample <code>${escape(sent.messageTemplate)}</code>${variant} is on its way by text message to the demo patient of the demo account
<code>${escape(sent.salesforceId)}</code>: your phone, as given when the demo account was created.</p>
<p>It usually arrives within a minute. Requested at ${escape(sent.requestedAt)}.</p>
</body></html>
`;
}
