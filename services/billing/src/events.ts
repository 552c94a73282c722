import { handlersOn, type UnitOfWork } from '@pep/db';
import type { Prisma } from './generated/prisma/client.js';

/** The billing service's transaction client. */
export type Tx = Prisma.TransactionClient;

/** The billing service's unit of work: state and its events in one transaction. */
export type BillingWork = UnitOfWork<Tx>;

/** Binds a handler that uses this service's models to the event it consumes. */
export const on = handlersOn<Tx>();
