import { randomUUID } from 'node:crypto';
import type { Emit } from '@pep/db';
import { callerOf, type Identity, notFound, pageOf, pageWindow, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import type { Db, SchedulingWork } from './events.js';
import type { PrismaClient } from './generated/prisma/client.js';
import { READERS, WRITERS } from './roles.js';
import { idParams, listOf, listQuery, searchQuery, type ListQuery, type Page, type RecordRow } from './schemas.js';

// Providers, facilities and appointment types behave alike: soft-deleted records of an organization, listed by
// visibility, searched by name, each change published as created/updated/deleted. One implementation keeps them alike.

/** The part of a generated Prisma model delegate the catalog uses; every catalog model's delegate has this shape. */
export interface CatalogDelegate<Row> {
  findFirst(args: { where: object }): Promise<Row | null>;
  findMany(args: { where: object; orderBy: object[]; skip: number; take: number }): Promise<Row[]>;
  count(args: { where: object }): Promise<number>;
  create(args: { data: object }): Promise<Row>;
  update(args: { where: { id: string }; data: object }): Promise<Row>;
}

/** A catalog record: a stored record that can be hidden from lists. */
export type CatalogRow = RecordRow & { visible: boolean };

/** Everything that differs between kinds of catalog records. */
export interface CatalogKind<Row extends CatalogRow, Response> {
  /** Singular, as in "provider not found". */
  noun: string;
  /** Table name, for row locks. */
  table: string;
  delegate(db: Db): CatalogDelegate<Row>;
  /** Columns `search` looks in. */
  searchFields: readonly string[];
  orderBy: object[];
  toResponse(row: Row): Response;
  /** Emits the kind's created event. */
  created(emit: Emit, row: Row): void;
  /** Emits the kind's updated event naming the fields changed. */
  updated(emit: Emit, row: Row, changed: string[]): void;
  /** Emits the kind's deleted event. */
  deleted(emit: Emit, row: Row): void;
}

/** Which records a list shows: the visible ones (the default lists), the hidden ones, or both (crudList). */
export type Visibility = 'visible' | 'hidden' | 'all';

/** CRUD of one kind of catalog record, scoped to the caller's organization; deleted records answer 404. */
export class CatalogService<Row extends CatalogRow, Response> {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly kind: CatalogKind<Row, Response>,
    private readonly work: SchedulingWork,
  ) {}

  /** One page of the organization's records of this kind, optionally only those whose names match `search`. */
  async list(identity: Identity, query: ListQuery, visibility: Visibility, search?: string): Promise<Page<Response>> {
    const where = {
      organization: identity.organization,
      deleted: false,
      ...(visibility === 'all' ? {} : { visible: visibility === 'visible' }),
      ...(search
        ? {
            AND: searchTerms(search).map((term) => ({
              OR: this.kind.searchFields.map((field) => ({ [field]: { contains: term, mode: 'insensitive' } })),
            })),
          }
        : {}),
    };
    const delegate = this.kind.delegate(this.prisma);
    const [rows, total] = await Promise.all([
      delegate.findMany({ where, orderBy: this.kind.orderBy, ...pageWindow(query) }),
      delegate.count({ where }),
    ]);
    return pageOf(
      rows.map((row) => this.kind.toResponse(row)),
      query,
      total,
    );
  }

  /** A record of the caller's organization; 404 otherwise. */
  async get(identity: Identity, id: string): Promise<Response> {
    return this.kind.toResponse(await this.own(this.prisma, identity, id));
  }

  /** Stores a new record and its created event in one transaction. */
  async create(identity: Identity, data: object, correlationId: string): Promise<Response> {
    const row = await this.work.run({ correlationId }, async (tx, emit) => {
      const created = await this.kind.delegate(tx).create({
        data: { ...data, id: randomUUID(), organization: identity.organization, createdBy: identity.user, updatedBy: identity.user },
      });
      this.kind.created(emit, created);
      return created;
    });
    return this.kind.toResponse(row);
  }

  /**
   * Applies the given fields under the row's lock, so concurrent changes neither lose updates nor publish out of
   * order. A change that changes nothing publishes nothing.
   */
  async update(identity: Identity, id: string, data: Record<string, unknown>, correlationId: string): Promise<Response> {
    const row = await this.work.run({ correlationId }, async (tx, emit) => {
      const current = await this.own(tx, identity, id, true);
      const changed = Object.keys(data).filter((key) => data[key] !== undefined && data[key] !== (current as Record<string, unknown>)[key]);
      if (changed.length === 0) return current;
      const updated = await this.kind.delegate(tx).update({
        where: { id },
        data: { ...Object.fromEntries(changed.map((key) => [key, data[key]])), updatedBy: identity.user },
      });
      this.kind.updated(emit, updated, changed);
      return updated;
    });
    return this.kind.toResponse(row);
  }

  /** Marks a record deleted and answers it; it then answers 404 like any unknown id. */
  async remove(identity: Identity, id: string, correlationId: string): Promise<Response> {
    const row = await this.work.run({ correlationId }, async (tx, emit) => {
      await this.own(tx, identity, id, true);
      const deleted = await this.kind.delegate(tx).update({ where: { id }, data: { deleted: true, updatedBy: identity.user } });
      this.kind.deleted(emit, deleted);
      return deleted;
    });
    return this.kind.toResponse(row);
  }

  /** The caller's organization's live record, locked for the rest of the transaction when asked; 404 otherwise. */
  private async own(db: Db, identity: Identity, id: string, lock = false): Promise<Row> {
    if (lock)
      await db.$executeRawUnsafe(
        `SELECT 1 FROM "${this.kind.table}" WHERE "id" = $1::uuid AND "organization" = $2::uuid FOR UPDATE`,
        id,
        identity.organization,
      );
    const row = await this.kind.delegate(db).findFirst({ where: { id, organization: identity.organization, deleted: false } });
    if (!row) throw notFound(this.kind.noun);
    return row;
  }
}

/** The organization and subject of an event about a catalog record. */
export function about(row: RecordRow): { organization: string; subject: string } {
  return { organization: row.organization, subject: row.id };
}

/**
 * Words of a search, at most five so one request cannot build an unbounded query. Prisma's `contains` is a LIKE that
 * leaves wildcards alone, so they are escaped to be searched for literally.
 */
function searchTerms(value: string): string[] {
  return value
    .split(/\s+/)
    .filter(Boolean)
    .slice(0, 5)
    .map((term) => term.replace(/[\\%_]/g, '\\$&'));
}

/** How one kind's routes are described and what they validate. */
export interface CatalogRoutes<TCreate extends z.ZodType, TUpdate extends z.ZodType, TResponse extends z.ZodType> {
  /** The v1 group, e.g. `providers`. */
  group: string;
  /** For summaries, e.g. `a provider` (with its article) and `providers`. */
  singular: string;
  plural: string;
  createBody: TCreate;
  updateBody: TUpdate;
  response: TResponse;
  /** Maps a validated create body to the row's columns. */
  createData(body: z.output<TCreate>): object;
  /** Maps a validated update body to the row's columns (undefined leaves a column as it is). */
  updateData(body: z.output<TUpdate>): Record<string, unknown>;
  /** Whether the group has `crudList` in v1. */
  crudList: boolean;
}

/** Registers the v1 routes of a catalog group: list, create, get, change, delete, search, hidden and maybe crudList. */
export function registerCatalogRoutes<
  Row extends CatalogRow,
  TCreate extends z.ZodType,
  TUpdate extends z.ZodType,
  TResponse extends z.ZodType,
>(app: ServiceApp, service: CatalogService<Row, z.output<TResponse>>, routes: CatalogRoutes<TCreate, TUpdate, TResponse>): void {
  const tags = [routes.group];
  const base = `/api/${routes.group}`;
  // Widened so the route types do not try to relate the generic response schema to the service's answer type.
  const response: z.ZodType = routes.response;
  const page = listOf(response);
  app.get(
    base,
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: `Visible ${routes.plural}`,
        description: 'Paged with page/limit, by name.',
        querystring: listQuery,
        response: { 200: page },
      },
    },
    async (request) => service.list(callerOf(request), request.query, 'visible'),
  );
  app.post(
    base,
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: `Create ${routes.singular}`,
        description: 'Answers 200 with the created record.',
        body: routes.createBody,
        response: { 200: response },
      },
    },
    async (request) => service.create(callerOf(request), routes.createData(request.body as z.output<TCreate>), request.id),
  );
  app.get(
    `${base}/search`,
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: `Find ${routes.plural} by name`,
        description: 'Visible or hidden; every word of `value` must appear in a name.',
        querystring: searchQuery,
        response: { 200: page },
      },
    },
    async (request) => service.list(callerOf(request), request.query, 'all', request.query.value),
  );
  app.get(
    `${base}/hidden`,
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: `Hidden ${routes.plural}`,
        description: 'Those with visible false.',
        querystring: listQuery,
        response: { 200: page },
      },
    },
    async (request) => service.list(callerOf(request), request.query, 'hidden'),
  );
  if (routes.crudList) {
    app.get(
      `${base}/crudList`,
      {
        config: { roles: READERS },
        schema: {
          tags,
          summary: `All ${routes.plural}, visible or not`,
          description: 'For administration screens.',
          querystring: listQuery,
          response: { 200: page },
        },
      },
      async (request) => service.list(callerOf(request), request.query, 'all'),
    );
  }
  app.get(
    `${base}/:id`,
    { config: { roles: READERS }, schema: { tags, summary: `Get ${routes.singular}`, params: idParams, response: { 200: response } } },
    async (request) => service.get(callerOf(request), request.params.id),
  );
  app.put(
    `${base}/:id`,
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: `Change ${routes.singular}`,
        description: 'Changes the fields given; null clears an optional one.',
        params: idParams,
        body: routes.updateBody,
        response: { 200: response },
      },
    },
    async (request) =>
      service.update(callerOf(request), request.params.id, routes.updateData(request.body as z.output<TUpdate>), request.id),
  );
  app.delete(
    `${base}/:id`,
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: `Delete ${routes.singular}`,
        description: 'Soft delete: answers the record with deleted 1; it then answers 404. Appointments keep pointing at it.',
        params: idParams,
        response: { 200: response },
      },
    },
    async (request) => service.remove(callerOf(request), request.params.id, request.id),
  );
}
