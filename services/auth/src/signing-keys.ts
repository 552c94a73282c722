import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';
import type { Logger } from '@pep/service-kit';
import type { PrismaClient, SigningKey } from './generated/prisma/client.js';

/** The only algorithm access tokens are signed with. */
export const SIGNING_ALGORITHM = 'ES256';

/** A signing key ready for use: its private half only for the current key. */
export interface LoadedKey {
  kid: string;
  generation: number;
  createdAt: Date;
  publicJwk: JWK;
  publicKey: CryptoKey;
  privateKey: CryptoKey;
}

/** What a {@link SigningKeyStore} needs. */
export interface SigningKeyStoreOptions {
  prisma: PrismaClient;
  /** Encrypts private keys at rest. */
  secret: string;
  rotationDays: number;
  clock: () => Date;
  logger: Logger;
  /** How long loaded keys are trusted before the database is asked again (another replica may have rotated). */
  refreshIntervalMs?: number;
}

// Any fixed number works; it only has to be the same in every replica and unused by other locks of this database.
const ROTATION_LOCK = 'auth-signing-key-rotation';
const CIPHER = 'aes-256-gcm';
const FORMAT = 'v1';

/**
 * ES256 signing keys kept in the database. The newest generation signs; it and the one before it verify,
 * so tokens signed just before a rotation stay valid until they expire. Keys are created on first use and
 * rotated after `rotationDays`; the advisory lock and the unique generation keep replicas from creating
 * two current keys.
 */
export class SigningKeyStore {
  private keys: LoadedKey[] = [];
  private loadedAt = 0;
  private loading: Promise<void> | null = null;
  private readonly refreshIntervalMs: number;
  private readonly encryptionKey: Buffer;

  constructor(private readonly options: SigningKeyStoreOptions) {
    this.refreshIntervalMs = options.refreshIntervalMs ?? 60_000;
    this.encryptionKey = deriveEncryptionKey(options.secret);
  }

  /** The key that signs new tokens, rotating first when it is due. */
  async current(): Promise<LoadedKey> {
    await this.fresh();
    const key = this.keys[0];
    if (!key) throw new Error('no signing key available');
    return key;
  }

  /** The keys tokens may be verified with: the current one and its predecessor, newest first. */
  async verificationKeys(): Promise<LoadedKey[]> {
    await this.fresh();
    return this.keys;
  }

  /** The verification key with this id; asks the database again (at most every few seconds) for an unknown id. */
  async find(kid: string): Promise<LoadedKey | undefined> {
    const keys = await this.verificationKeys();
    const found = keys.find((key) => key.kid === kid);
    if (found || Date.now() - this.loadedAt < 5_000) return found;
    await this.refresh();
    return this.keys.find((key) => key.kid === kid);
  }

  /** Loads the keys, creating or rotating the current one when needed. */
  refresh(): Promise<void> {
    this.loading ??= this.load().finally(() => {
      this.loading = null;
    });
    return this.loading;
  }

  /**
   * Waits for the database only when there is no key or the current one is due to be rotated. Keys merely loaded a
   * while ago are used while a reload runs in the background: callers sign inside their own transaction, and on the
   * single-connection embedded database a query outside it would wait for that very transaction.
   */
  private async fresh(): Promise<void> {
    if (this.keys.length === 0 || this.rotationDue()) {
      await this.refresh();
    } else if (this.stale()) {
      this.refresh().catch((error: unknown) =>
        this.options.logger.warn({ err: error }, 'reloading signing keys failed; using the loaded ones'),
      );
    }
  }

  private stale(): boolean {
    return this.keys.length === 0 || Date.now() - this.loadedAt > this.refreshIntervalMs;
  }

  private rotationDue(newest: { createdAt: Date } | undefined = this.keys[0]): boolean {
    if (!newest) return true;
    return this.options.clock().getTime() - newest.createdAt.getTime() >= this.options.rotationDays * 86_400_000;
  }

  private async load(): Promise<void> {
    let rows = await this.newestRows();
    if (this.rotationDue(rows[0])) {
      await this.rotate();
      rows = await this.newestRows();
    }
    this.keys = await Promise.all(rows.map((row) => this.decode(row)));
    this.loadedAt = Date.now();
  }

  private newestRows(): Promise<SigningKey[]> {
    return this.options.prisma.signingKey.findMany({ orderBy: { generation: 'desc' }, take: 2 });
  }

  private async rotate(): Promise<void> {
    const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALGORITHM, { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const privateJwk = await exportJWK(privateKey);
    try {
      const created = await this.options.prisma.$transaction(async (tx) => {
        await tx.$executeRawUnsafe('SELECT pg_advisory_xact_lock(hashtext($1))', ROTATION_LOCK);
        // Another replica may have rotated while this one waited for the lock.
        const newest = await tx.signingKey.findFirst({ orderBy: { generation: 'desc' } });
        if (!this.rotationDue(newest ?? undefined)) return false;
        await tx.signingKey.create({
          data: {
            kid,
            generation: (newest?.generation ?? 0) + 1,
            algorithm: SIGNING_ALGORITHM,
            publicJwk: { ...publicJwk, kid, alg: SIGNING_ALGORITHM, use: 'sig' },
            privateJwkCiphertext: encrypt(this.encryptionKey, JSON.stringify(privateJwk), kid),
            createdAt: this.options.clock(),
          },
        });
        return true;
      });
      if (created) this.options.logger.info({ kid }, 'signing key created');
    } catch (error) {
      // Where advisory locks do not exclude (one embedded session), the unique generation still does.
      if ((error as { code?: string }).code !== 'P2002') throw error;
    }
  }

  private async decode(row: SigningKey): Promise<LoadedKey> {
    const publicJwk = row.publicJwk as JWK;
    const privateJwk = JSON.parse(decrypt(this.encryptionKey, row.privateJwkCiphertext, row.kid)) as JWK;
    return {
      kid: row.kid,
      generation: row.generation,
      createdAt: row.createdAt,
      publicJwk,
      publicKey: (await importJWK(publicJwk, SIGNING_ALGORITHM)) as CryptoKey,
      privateKey: (await importJWK(privateJwk, SIGNING_ALGORITHM)) as CryptoKey,
    };
  }
}

/** The AES-256 key private signing keys are encrypted with, derived from the configured secret. */
export function deriveEncryptionKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'pep-auth', 'signing-key-encryption', 32));
}

/** AES-256-GCM; the kid is authenticated data, so a ciphertext cannot be moved to another key's row. */
export function encrypt(key: Buffer, plaintext: string, associatedData: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv(CIPHER, key, iv);
  cipher.setAAD(Buffer.from(associatedData));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [FORMAT, iv, cipher.getAuthTag(), ciphertext]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

/** Reverses {@link encrypt}; throws when the secret is wrong or the ciphertext was altered. */
export function decrypt(key: Buffer, sealed: string, associatedData: string): string {
  const [format, iv, tag, ciphertext] = sealed.split('.');
  if (format !== FORMAT || !iv || !tag || ciphertext === undefined) throw new Error('unknown signing key format');
  const decipher = createDecipheriv(CIPHER, key, Buffer.from(iv, 'base64url'));
  decipher.setAAD(Buffer.from(associatedData));
  decipher.setAuthTag(Buffer.from(tag, 'base64url'));
  return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
}
