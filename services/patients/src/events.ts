import { handlersOn, type UnitOfWork } from '@pep/db';
import type { Prisma } from './generated/prisma/client.js';

/** The patients service's transaction client. */
export type Tx = Prisma.TransactionClient;

/** The patients service's unit of work: state and its events in one transaction. */
export type PatientsWork = UnitOfWork<Tx>;

/** Binds a handler that uses this service's models to the event it consumes. */
export const on = handlersOn<Tx>();
