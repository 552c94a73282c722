import { handlersOn, type UnitOfWork } from '@pep/db';
import type { Prisma, PrismaClient } from './generated/prisma/client.js';

/** The Prisma client or one of its transactions, for reads that run either way. */
export type Db = PrismaClient | Prisma.TransactionClient;

/** The scheduling service's transaction client. */
export type Tx = Prisma.TransactionClient;

/** The scheduling service's unit of work: state and its events in one transaction. */
export type SchedulingWork = UnitOfWork<Tx>;

/** Binds a handler that uses this service's models to the event it consumes. */
export const on = handlersOn<Tx>();
