import { describe, expect, it } from 'vitest';
import { configSchema } from './config.js';
import { DEFAULT_PLANS, parsePlans } from './plans.js';

const env = { INTERNAL_AUTH_SECRET: 'x'.repeat(32), PGLITE_DIR: '/tmp/billing' };
const plan = {
  id: 'clinic',
  name: 'Clinic',
  currency: 'eur',
  providerPrice: 'price_1Clinic',
  providerUnitAmount: 3900,
  texting: { price: 'price_1Texting', meterEventName: 'texting_units', unitAmount: 1.5 },
};

describe('plans as configuration', () => {
  it('reads BILLING_PLANS, and offers the default plan without it', () => {
    expect(configSchema.parse({ ...env, BILLING_PLANS: JSON.stringify([plan]) }).BILLING_PLANS).toEqual([plan]);
    expect(configSchema.parse(env).BILLING_PLANS).toBeUndefined();
    expect(DEFAULT_PLANS.map((each) => each.id)).toEqual(['standard']);
    expect(parsePlans(JSON.stringify([{ ...plan, texting: undefined }]))[0]?.texting).toBeUndefined();
  });

  it('refuses plans that are not JSON, name no Stripe price, or repeat an id', () => {
    const refused = (value: string) => configSchema.safeParse({ ...env, BILLING_PLANS: value });
    expect(refused('[{').error?.issues[0]).toMatchObject({ path: ['BILLING_PLANS'], message: 'BILLING_PLANS is not JSON' });
    expect(refused(JSON.stringify([{ ...plan, providerPrice: 'prod_1' }])).success).toBe(false);
    expect(refused(JSON.stringify([plan, plan])).success).toBe(false);
    expect(refused('[]').success).toBe(false);
  });
});
