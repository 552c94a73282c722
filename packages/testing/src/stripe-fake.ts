import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request the fake answered, for assertions: method, path, decoded form and the Idempotency-Key it carried. */
export interface StripeFakeRequest {
  method: string;
  path: string;
  params: Record<string, unknown>;
  idempotencyKey: string | null;
  /** Whether the answer was the stored one of an earlier request with the same key. */
  replayed: boolean;
}

/** A Stripe error as the API answers it: `{ error: { type, code, message, param } }` with its HTTP status. */
export interface StripeFakeError {
  status: number;
  type: 'api_error' | 'card_error' | 'idempotency_error' | 'invalid_request_error' | 'rate_limit_error';
  code?: string;
  message: string;
  param?: string;
}

type StripeObject = Record<string, unknown> & { id: string; object: string };

/** A local HTTP server speaking the part of Stripe's REST API billing uses, so the real `stripe` SDK runs against it. */
export interface StripeFake {
  /** The secret key the fake accepts (`sk_test_…`); any other answers 401 as Stripe does. */
  secretKey: string;
  /** Base URL to give the service as its Stripe API base (`http://127.0.0.1:<port>`). */
  url: string;
  host: string;
  port: number;
  /** Every request answered, in order (401s included). */
  requests: StripeFakeRequest[];
  customers: Map<string, StripeObject>;
  paymentMethods: Map<string, StripeObject>;
  /** Subscriptions by id (`sub_…`), their items in `items.data`. */
  subscriptions: Map<string, StripeObject>;
  /** Errors to answer the next requests with, first in first out; each is used once and nothing is done. */
  failNext: StripeFakeError[];
  /** Billing meter events by their `identifier` (`billing.meter_event`), each counted once. */
  meterEvents: Map<string, StripeObject>;
  /**
   * How many of the next requests are carried out (and their idempotency key stored) but answered by a dropped
   * connection: Stripe acted and the caller cannot know, as when the network fails or the caller dies mid-call.
   */
  loseNextAnswers: number;
  /**
   * How long after its creation a customer is found by `GET /v1/customers/search` (default 0). Stripe's search is
   * eventually consistent: new and changed objects reach its index after a delay, usually under a minute.
   */
  searchDelayMs: number;
  /** Forgets every stored Idempotency-Key, as Stripe does once a key is 24 hours old: a retry after that acts again. */
  expireIdempotencyKeys(): void;
  /** Adds a card payment method (not attached to anyone), as Stripe.js would have created it; returns its `pm_…` id. */
  addPaymentMethod(brand?: string): string;
  close(): Promise<void>;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** An id as Stripe spells them: a prefix (`cus`, `pm`, `evt`, …), an underscore, 24 alphanumerics. */
export function stripeId(prefix: string): string {
  const bytes = randomBytes(24);
  return `${prefix}_${[...bytes].map((byte) => ID_ALPHABET[byte % ID_ALPHABET.length]).join('')}`;
}

/**
 * Decodes Stripe's form encoding into nested objects: `metadata[organization]=x`, `address[line1]=y`,
 * `expand[0]=z` (arrays stay objects keyed by index; the fake reads none of them as arrays).
 */
export function decodeStripeForm(body: string): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    const path = key.split('[').map((part) => part.replace(/]$/, ''));
    let node = root;
    for (const [index, part] of path.entries()) {
      if (index === path.length - 1) node[part] = value;
      else node = (node[part] ??= {}) as Record<string, unknown>;
    }
  }
  return root;
}

/**
 * The `Stripe-Signature` header Stripe sends with a webhook: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<payload>"
 * keyed by the endpoint secret>`.
 */
export function signStripeWebhook(payload: string, secret: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const signature = createHmac('sha256', secret).update(`${timestamp}.${payload}`, 'utf8').digest('hex');
  return `t=${timestamp},v1=${signature}`;
}

/** A Stripe event object (`evt_…`) around `object`, as Stripe posts it to a webhook endpoint. */
export function stripeEvent(type: string, object: Record<string, unknown>, options: { created?: number; id?: string } = {}): StripeObject {
  return {
    id: options.id ?? stripeId('evt'),
    object: 'event',
    api_version: '2025-11-17.clover',
    created: options.created ?? Math.floor(Date.now() / 1000),
    data: { object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type,
  };
}

const now = () => Math.floor(Date.now() / 1000);

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'content-type': 'application/json', 'request-id': stripeId('req'), ...headers });
  response.end(JSON.stringify(body));
}

const errorBody = (error: StripeFakeError) => ({
  error: {
    type: error.type,
    message: error.message,
    ...(error.code ? { code: error.code } : {}),
    ...(error.param ? { param: error.param } : {}),
  },
});

const missing = (what: string, id: string, param?: string): StripeFakeError => ({
  status: 404,
  type: 'invalid_request_error',
  code: 'resource_missing',
  message: `No such ${what}: '${id}'`,
  ...(param ? { param } : {}),
});

/** Merges form params into a Stripe object: `''` clears a field, as Stripe's API does. */
function assign(target: Record<string, unknown>, params: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(params)) {
    if (value === '') target[key] = null;
    else if (typeof value === 'object' && value !== null && typeof target[key] === 'object' && target[key] !== null) {
      assign(target[key] as Record<string, unknown>, value as Record<string, unknown>);
    } else target[key] = value;
  }
}

const MONTH_SECONDS = 30 * 24 * 3600;

/** A subscription item (`si_…`) of a price, in a period; metered prices carry no quantity, as at Stripe. */
function subscriptionItem(subscription: string, item: Record<string, unknown>, start: number): StripeObject {
  const quantity = item['quantity'] === undefined ? null : Number(item['quantity']);
  return {
    id: stripeId('si'),
    object: 'subscription_item',
    created: start,
    current_period_start: start,
    current_period_end: start + MONTH_SECONDS,
    metadata: {},
    price: { id: String(item['price']), object: 'price', active: true },
    quantity,
    subscription,
  };
}

/**
 * Subscriptions and their items: create (items[n][price|quantity], metadata), list, retrieve, update (cancel_at_period_end,
 * metadata), cancel (DELETE), and an item's quantity. Answers null for other paths; errors as [status, StripeFakeError].
 */
function handleSubscriptions(
  method: string,
  path: string,
  params: Record<string, unknown>,
  customers: Map<string, StripeObject>,
  subscriptions: Map<string, StripeObject>,
): [number, unknown] | null {
  const error = (fault: StripeFakeError): [number, unknown] => [fault.status, fault];
  const itemsOf = (subscription: StripeObject) => (subscription['items'] as { data: StripeObject[] }).data;
  let match: RegExpExecArray | null;
  if (method === 'POST' && path === '/v1/subscriptions') {
    const customer = String(params['customer'] ?? '');
    if (!customers.has(customer)) return error(missing('customer', customer, 'customer'));
    const requested = Object.values((params['items'] ?? {}) as Record<string, Record<string, unknown>>);
    if (requested.length === 0 || requested.some((item) => typeof item['price'] !== 'string')) {
      return error({
        status: 400,
        type: 'invalid_request_error',
        code: 'parameter_missing',
        message: 'Missing required param: items.',
        param: 'items',
      });
    }
    const start = now();
    const id = stripeId('sub');
    const subscription: StripeObject = {
      id,
      object: 'subscription',
      cancel_at_period_end: false,
      canceled_at: null,
      created: start,
      customer,
      ended_at: null,
      livemode: false,
      metadata: { ...((params['metadata'] as Record<string, unknown>) ?? {}) },
      start_date: start,
      status: 'active',
      items: {
        object: 'list',
        data: requested.map((item) => subscriptionItem(id, item, start)),
        has_more: false,
        url: `/v1/subscription_items?subscription=${id}`,
      },
    };
    subscriptions.set(id, subscription);
    return [200, subscription];
  }
  if (method === 'GET' && path === '/v1/subscriptions') return [200, listSubscriptions(params, subscriptions)];
  if ((match = /^\/v1\/subscriptions\/([^/]+)$/.exec(path))) {
    const subscription = subscriptions.get(match[1]!);
    if (!subscription) return error(missing('subscription', match[1]!, 'id'));
    if (method === 'GET') return [200, subscription];
    if (method === 'POST') {
      if (params['cancel_at_period_end'] !== undefined) {
        if (subscription['status'] === 'canceled') {
          return error({
            status: 400,
            type: 'invalid_request_error',
            message: 'A canceled subscription can only update its cancellation_details and metadata.',
          });
        }
        subscription['cancel_at_period_end'] = params['cancel_at_period_end'] === 'true';
        subscription['canceled_at'] = subscription['cancel_at_period_end'] ? now() : null;
      }
      if (params['metadata']) Object.assign(subscription['metadata'] as object, params['metadata']);
      return [200, subscription];
    }
    if (method === 'DELETE') {
      subscription['status'] = 'canceled';
      subscription['canceled_at'] = now();
      subscription['ended_at'] = now();
      return [200, subscription];
    }
  }
  if (method === 'POST' && (match = /^\/v1\/subscription_items\/([^/]+)$/.exec(path))) {
    const item = [...subscriptions.values()].flatMap(itemsOf).find((candidate) => candidate.id === match![1]);
    if (!item) return error(missing('subscription_item', match[1]!, 'id'));
    if (params['quantity'] !== undefined) {
      if (item['quantity'] === null) {
        return error({
          status: 400,
          type: 'invalid_request_error',
          message: 'Quantity cannot be set on a metered price.',
          param: 'quantity',
        });
      }
      item['quantity'] = Number(params['quantity']);
    }
    return [200, item];
  }
  return null;
}

/**
 * `GET /v1/subscriptions`: `customer`, `status` (by default those not canceled, as Stripe lists them; `all` for every
 * one), newest first, pages of `limit` (default 10, at most 100) continued with `starting_after`.
 */
function listSubscriptions(params: Record<string, unknown>, subscriptions: Map<string, StripeObject>) {
  const status = typeof params['status'] === 'string' ? params['status'] : null;
  const matching = [...subscriptions.values()]
    .filter((subscription) => params['customer'] === undefined || subscription['customer'] === params['customer'])
    .filter((subscription) =>
      status === 'all' ? true : status ? subscription['status'] === status : subscription['status'] !== 'canceled',
    )
    // Newest first; within one second, the later created first.
    .reverse()
    .sort((a, b) => Number(b['created']) - Number(a['created']));
  const after = typeof params['starting_after'] === 'string' ? matching.findIndex((s) => s.id === params['starting_after']) + 1 : 0;
  const limit = Math.min(Math.max(Number(params['limit'] ?? 10) || 10, 1), 100);
  const page = matching.slice(after, after + limit);
  return { object: 'list', data: page, has_more: after + limit < matching.length, url: '/v1/subscriptions' };
}

/**
 * `GET /v1/customers/search`: the query form `metadata['<key>']:'<value>'` (either quote), exact match, as Stripe's
 * search language writes it; any other query is refused with Stripe's 400 naming `query`. Answers Stripe's search result
 * (`object: 'search_result'`, `data`, `has_more`, `next_page`, `url`), pages of `limit` continued with `page`.
 * Customers younger than `delayMs` are not found yet: Stripe's search index lags behind its writes.
 */
function searchCustomers(
  params: Record<string, unknown>,
  customers: Map<string, StripeObject>,
  searchableAt: Map<string, number>,
): [number, unknown] {
  const query = typeof params['query'] === 'string' ? params['query'].trim() : '';
  const match = /^metadata\[(['"])([^'"]+)\1\]:(['"])([^'"]*)\3$/.exec(query);
  if (!match) {
    return [
      400,
      errorBody({
        status: 400,
        type: 'invalid_request_error',
        code: 'parameter_invalid',
        message: `The query is not supported: '${query}'. This server answers metadata['key']:'value' only.`,
        param: 'query',
      }),
    ];
  }
  const [, , key, , value] = match;
  const found = [...customers.values()].filter(
    (customer) =>
      (customer['metadata'] as Record<string, unknown> | null)?.[key!] === value && (searchableAt.get(customer.id) ?? 0) <= Date.now(),
  );
  const offset = typeof params['page'] === 'string' ? Number(Buffer.from(params['page'], 'base64url').toString('utf8')) || 0 : 0;
  const limit = Math.min(Math.max(Number(params['limit'] ?? 10) || 10, 1), 100);
  const hasMore = offset + limit < found.length;
  return [
    200,
    {
      object: 'search_result',
      data: found.slice(offset, offset + limit),
      has_more: hasMore,
      next_page: hasMore ? Buffer.from(String(offset + limit), 'utf8').toString('base64url') : null,
      url: '/v1/customers/search',
    },
  ];
}

/**
 * `POST /v1/billing/meter_events`: `event_name`, `payload[stripe_customer_id]`, `payload[value]` (a whole number),
 * `identifier` (generated when absent), `timestamp`. Stripe enforces an identifier's uniqueness "within a rolling period of
 * at least 24 hours" (API reference, meter event `identifier`) and refuses a second event with it synchronously: 400
 * `invalid_request_error`, no `code` or `param`, the message "An event already exists with identifier <id>." and
 * `Stripe-Should-Retry: false` (observed against Stripe and quoted in langfuse/langfuse#16292); the fake answers the same.
 * A resend under the first request's Idempotency-Key is replayed before this check, as at Stripe.
 */
function createMeterEvent(
  params: Record<string, unknown>,
  meterEvents: Map<string, StripeObject>,
): [number, unknown, Record<string, string>?] {
  const refuse = (param: string, message: string): [number, unknown] => [
    400,
    errorBody({ status: 400, type: 'invalid_request_error', code: 'parameter_invalid', message, param }),
  ];
  const payload = (params['payload'] ?? {}) as Record<string, unknown>;
  if (typeof params['event_name'] !== 'string' || params['event_name'] === '')
    return refuse('event_name', 'Missing required param: event_name.');
  if (typeof payload['stripe_customer_id'] !== 'string') return refuse('payload', 'The payload must name stripe_customer_id.');
  if (typeof payload['value'] !== 'string' || !/^-?\d+$/.test(payload['value']))
    return refuse('payload', 'The payload value must be a whole number.');
  const identifier = typeof params['identifier'] === 'string' ? params['identifier'] : stripeId('mevt');
  if (meterEvents.has(identifier)) {
    return [
      400,
      errorBody({ status: 400, type: 'invalid_request_error', message: `An event already exists with identifier ${identifier}.` }),
      { 'stripe-should-retry': 'false' },
    ];
  }
  const created = now();
  const event: StripeObject = {
    id: identifier,
    object: 'billing.meter_event',
    created,
    event_name: params['event_name'],
    identifier,
    livemode: false,
    payload: { ...payload },
    timestamp: typeof params['timestamp'] === 'string' ? Number(params['timestamp']) : created,
  };
  meterEvents.set(identifier, event);
  return [200, event];
}

/** Starts the fake on a free loopback port. */
export async function startStripeFake(): Promise<StripeFake> {
  const customers = new Map<string, StripeObject>();
  const paymentMethods = new Map<string, StripeObject>();
  const taxIds = new Map<string, StripeObject>();
  const subscriptions = new Map<string, StripeObject>();
  const searchableAt = new Map<string, number>();
  const idempotent = new Map<string, { hash: string; status: number; body: unknown }>();
  const fake: StripeFake = {
    secretKey: `sk_test_${randomBytes(12).toString('hex')}`,
    url: '',
    host: '127.0.0.1',
    port: 0,
    requests: [],
    customers,
    paymentMethods,
    subscriptions,
    failNext: [],
    meterEvents: new Map(),
    loseNextAnswers: 0,
    searchDelayMs: 0,
    expireIdempotencyKeys: () => idempotent.clear(),
    addPaymentMethod(brand = 'visa') {
      const id = stripeId('pm');
      paymentMethods.set(id, {
        id,
        object: 'payment_method',
        type: 'card',
        card: { brand, last4: '4242', exp_month: 12, exp_year: 2034 },
        customer: null,
        created: now(),
        livemode: false,
        metadata: {},
      });
      return id;
    },
    close: async () => undefined,
  };

  /** Answers one authorized, non-replayed request: [status, body, extra headers]. */
  function handle(method: string, path: string, params: Record<string, unknown>): [number, unknown, Record<string, string>?] {
    const fail = (error: StripeFakeError): [number, unknown] => [error.status, errorBody(error)];
    let match: RegExpExecArray | null;
    if (method === 'POST' && path === '/v1/customers') {
      const customer: StripeObject = {
        id: stripeId('cus'),
        object: 'customer',
        address: null,
        created: now(),
        email: null,
        invoice_settings: { default_payment_method: null },
        livemode: false,
        metadata: {},
        name: null,
      };
      assign(customer, params);
      customers.set(customer.id, customer);
      searchableAt.set(customer.id, Date.now() + fake.searchDelayMs);
      return [200, customer];
    }
    if (method === 'GET' && path === '/v1/customers/search') return searchCustomers(params, customers, searchableAt);
    if ((match = /^\/v1\/customers\/([^/]+)$/.exec(path))) {
      const customer = customers.get(match[1]!);
      if (!customer) return fail(missing('customer', match[1]!, 'id'));
      if (method === 'GET') return [200, customer];
      if (method === 'POST') {
        const pm = (params['invoice_settings'] as Record<string, unknown> | undefined)?.['default_payment_method'];
        if (typeof pm === 'string' && pm !== '' && paymentMethods.get(pm)?.['customer'] !== customer.id) {
          return fail({
            status: 400,
            type: 'invalid_request_error',
            code: 'resource_missing',
            message: `The customer does not have a payment method with the ID ${pm}.`,
            param: 'invoice_settings[default_payment_method]',
          });
        }
        assign(customer, params);
        return [200, customer];
      }
    }
    if (method === 'POST' && (match = /^\/v1\/payment_methods\/([^/]+)\/attach$/.exec(path))) {
      const paymentMethod = paymentMethods.get(match[1]!);
      if (!paymentMethod) return fail(missing('PaymentMethod', match[1]!, 'payment_method'));
      const customer = String(params['customer'] ?? '');
      if (!customers.has(customer)) return fail(missing('customer', customer, 'customer'));
      if (paymentMethod['customer'] && paymentMethod['customer'] !== customer) {
        return fail({
          status: 400,
          type: 'invalid_request_error',
          code: 'payment_method_unexpected_state',
          message: 'The payment method you provided has already been attached to a customer.',
        });
      }
      paymentMethod['customer'] = customer;
      return [200, paymentMethod];
    }
    if ((match = /^\/v1\/customers\/([^/]+)\/tax_ids(?:\/([^/]+))?$/.exec(path))) {
      if (!customers.has(match[1]!)) return fail(missing('customer', match[1]!, 'customer'));
      if (method === 'POST' && !match[2]) {
        if (typeof params['type'] !== 'string' || typeof params['value'] !== 'string') {
          return fail({
            status: 400,
            type: 'invalid_request_error',
            code: 'parameter_missing',
            message: 'Missing required param: type.',
            param: 'type',
          });
        }
        const taxId: StripeObject = {
          id: stripeId('txi'),
          object: 'tax_id',
          customer: match[1],
          type: params['type'],
          value: params['value'],
          created: now(),
          livemode: false,
        };
        taxIds.set(taxId.id, taxId);
        return [200, taxId];
      }
      if (method === 'DELETE' && match[2]) {
        if (!taxIds.delete(match[2])) return fail(missing('tax_id', match[2], 'id'));
        return [200, { id: match[2], object: 'tax_id', deleted: true }];
      }
    }
    if (method === 'POST' && path === '/v1/billing/meter_events') return createMeterEvent(params, fake.meterEvents);
    const subscriptionAnswer = handleSubscriptions(method, path, params, customers, subscriptions);
    if (subscriptionAnswer) return subscriptionAnswer[0] === 200 ? subscriptionAnswer : fail(subscriptionAnswer[1] as StripeFakeError);
    return fail({ status: 404, type: 'invalid_request_error', message: `Unrecognized request URL (${method}: ${path}).` });
  }

  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of request) chunks.push(chunk as Buffer);
      const raw = Buffer.concat(chunks).toString('utf8');
      const method = request.method ?? 'GET';
      const [path = '', query = ''] = (request.url ?? '').split('?', 2);
      const params = decodeStripeForm(method === 'GET' || method === 'DELETE' ? query : raw);
      const idempotencyKey = typeof request.headers['idempotency-key'] === 'string' ? request.headers['idempotency-key'] : null;
      const entry: StripeFakeRequest = { method, path, params, idempotencyKey, replayed: false };
      // Closes the connection instead of answering, while lost answers are asked for.
      const answerLost = () => {
        if (fake.loseNextAnswers <= 0) return false;
        fake.loseNextAnswers -= 1;
        request.socket.destroy();
        return true;
      };
      fake.requests.push(entry);
      if (request.headers['authorization'] !== `Bearer ${fake.secretKey}`) {
        send(response, 401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' } });
        return;
      }
      const queued = fake.failNext.shift();
      if (queued) {
        // Stripe tells its SDKs whether a retry may help; a queued failure is meant to reach the caller.
        send(response, queued.status, errorBody(queued), { 'stripe-should-retry': 'false' });
        return;
      }
      // Stripe keeps a key's first answer (for 24 h) and replays it; the same key with other parameters is an error.
      const hash = createHash('sha256').update(`${method} ${path} ${raw}`).digest('hex');
      const stored = idempotencyKey && method === 'POST' ? idempotent.get(idempotencyKey) : undefined;
      if (stored) {
        if (stored.hash !== hash) {
          send(
            response,
            400,
            errorBody({
              status: 400,
              type: 'idempotency_error',
              message: `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`,
            }),
          );
          return;
        }
        entry.replayed = true;
        if (answerLost()) return;
        send(response, stored.status, stored.body, { 'idempotent-replayed': 'true', 'idempotency-key': idempotencyKey! });
        return;
      }
      const [status, body, headers = {}] = handle(method, path, params);
      if (idempotencyKey && method === 'POST') idempotent.set(idempotencyKey, { hash, status, body: structuredClone(body) });
      if (answerLost()) return;
      send(response, status, body, { ...headers, ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) });
    })().catch((error: unknown) => {
      send(response, 500, errorBody({ status: 500, type: 'api_error', message: String(error) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  fake.port = port;
  fake.url = `http://127.0.0.1:${port}`;
  fake.close = () => new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  return fake;
}
