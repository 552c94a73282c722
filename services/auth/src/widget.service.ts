import { randomBytes, randomUUID } from 'node:crypto';
import { widgetCreatedV1, widgetUpdatedV1 } from '@pep/contracts';
import { HttpProblem, type Identity, notFound, pageOf, pageWindow, rootAccountOf } from '@pep/service-kit';
import type { AuthWork } from './events.js';
import type { PrismaClient, Widget } from './generated/prisma/client.js';
import { RULES, type RateLimiter } from './rate-limiter.js';
import { recordRevocation } from './revocation.repository.js';
import type { SessionService } from './session.service.js';
import type { ListQuery } from './user.schemas.js';
import type { CreateWidgetBody, UpdateWidgetBody, WidgetResponse, WidgetUserResponse } from './widget.schemas.js';

/** The answer to every refused widget login, whatever was wrong. */
const invalidWidget = () =>
  new HttpProblem(401, 'invalid-credentials', 'The widget key is unknown or inactive, or not allowed from this page.');

const snapshot = (widget: Widget) => ({ _id: widget.id, name: widget.name, allowedOrigins: widget.allowedOrigins, active: widget.active });

function toWidgetResponse(widget: Widget): WidgetResponse {
  return {
    _id: widget.id,
    organization: widget.organizationId,
    user: rootAccountOf(widget.organizationId),
    name: widget.name,
    key: widget.key,
    allowedOrigins: widget.allowedOrigins,
    active: widget.active,
    lastLogin: widget.lastLogin?.toISOString() ?? null,
    createdBy: widget.createdBy,
    createdAt: widget.createdAt.toISOString(),
    updatedAt: widget.updatedAt.toISOString(),
  };
}

/** Booking widgets: an organization's embeddable widgets, their logins and the profile their tokens speak for. */
export class WidgetService {
  constructor(
    private readonly prisma: PrismaClient,
    private readonly sessions: SessionService,
    private readonly limiter: RateLimiter,
    private readonly clock: () => Date,
    private readonly work: AuthWork,
  ) {}

  /** One page of the organization's widgets, oldest first. */
  async list(identity: Identity, query: ListQuery) {
    const where = { organizationId: identity.organization };
    const [widgets, total] = await Promise.all([
      this.prisma.widget.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], ...pageWindow(query) }),
      this.prisma.widget.count({ where }),
    ]);
    return pageOf(widgets.map(toWidgetResponse), query, total);
  }

  /** Registers a widget with a random public key; widget.created. */
  async create(identity: Identity, body: CreateWidgetBody, correlationId: string): Promise<WidgetResponse> {
    const widget = await this.work.run({ correlationId }, async (tx, emit) => {
      const created = await tx.widget.create({
        data: {
          id: randomUUID(),
          organizationId: identity.organization,
          name: body.name,
          key: `wk_${randomBytes(24).toString('base64url')}`,
          allowedOrigins: normalizeOrigins(body.allowedOrigins),
          active: body.active,
          createdBy: identity.user,
        },
      });
      emit(widgetCreatedV1, { organization: identity.organization, subject: created.id, data: snapshot(created) });
      return created;
    });
    return toWidgetResponse(widget);
  }

  /** Renames, changes origins or (de)activates a widget of the caller's organization; widget.updated. */
  async update(identity: Identity, id: string, body: UpdateWidgetBody, correlationId: string): Promise<WidgetResponse> {
    const existing = await this.prisma.widget.findFirst({ where: { id, organizationId: identity.organization } });
    if (!existing) throw notFound('widget');
    const origins = body.allowedOrigins ? normalizeOrigins(body.allowedOrigins) : undefined;
    const changed = [
      ...(body.name !== undefined && body.name !== existing.name ? ['name'] : []),
      ...(origins && origins.join() !== existing.allowedOrigins.join() ? ['allowedOrigins'] : []),
      ...(body.active !== undefined && body.active !== existing.active ? ['active'] : []),
    ];
    if (changed.length === 0) return toWidgetResponse(existing);
    const updated = await this.work.run({ correlationId }, async (tx, emit) => {
      const now = this.clock();
      const widget = await tx.widget.update({
        where: { id },
        data: {
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(origins ? { allowedOrigins: origins } : {}),
          ...(body.active !== undefined ? { active: body.active } : {}),
        },
      });
      if (changed.includes('active') && !widget.active) {
        await recordRevocation(tx, { scope: 'subject', subject: id, notBefore: now, reason: 'widget-deactivated' });
      }
      emit(widgetUpdatedV1, { organization: identity.organization, subject: id, time: now, data: { ...snapshot(widget), changed } });
      return widget;
    });
    return toWidgetResponse(updated);
  }

  /**
   * Exchanges a widget key for a widget-role access token. The key is public, so every login counts against the
   * caller's address; an unknown or inactive key, an inactive organization, or an Origin the widget does not allow
   * all answer the same 401.
   */
  async login(key: string, origin: string | undefined, address: string): Promise<{ token: string; expiresIn: number }> {
    await this.limiter.hit(RULES.widgetLoginPerAddress, address);
    const widget = await this.prisma.widget.findUnique({ where: { key }, include: { organization: true } });
    if (!widget || !widget.active || !widget.organization.active || widget.organization.deletedAt) throw invalidWidget();
    if (widget.allowedOrigins.length > 0 && !(origin && widget.allowedOrigins.includes(origin.toLowerCase()))) throw invalidWidget();
    await this.prisma.widget.update({ where: { id: widget.id }, data: { lastLogin: this.clock() } });
    return this.sessions.issueAccessToken({ user: widget.id, organization: widget.organizationId, roles: ['widget'], kind: 'widget' });
  }

  /** The widget the caller's token speaks for, with its organization; 401 once the widget was deactivated. */
  async user(identity: Identity): Promise<WidgetUserResponse> {
    const widget = await this.prisma.widget.findFirst({
      where: { id: identity.user, organizationId: identity.organization },
      include: { organization: true },
    });
    if (!widget || !widget.active || widget.organization.deletedAt)
      throw new HttpProblem(401, 'invalid-token', 'The widget of this token is no longer active.');
    return {
      _id: widget.id,
      name: widget.name,
      type: 'widget',
      roles: identity.roles,
      organization: { _id: widget.organization.id, name: widget.organization.name, active: widget.organization.active },
    };
  }
}

function normalizeOrigins(origins: string[]): string[] {
  return [...new Set(origins.map((origin) => origin.toLowerCase()))].sort();
}
