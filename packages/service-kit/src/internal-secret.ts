import { jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { z } from 'zod';

/**
 * `INTERNAL_AUTH_SECRET`: one secret, or a comma list during a rotation. The first signs; every one is accepted when
 * verifying, so replicas rolled at different times keep trusting each other (docs/operations.md, rotating secrets).
 */
export const internalAuthSecretSchema = z
  .string()
  .transform(secretsOf)
  .pipe(
    z
      .array(z.string().min(32, 'each secret must be at least 32 characters (a comma list holds the secrets of a rotation)'))
      .min(1)
      .max(3, 'at most 3 secrets: the one that signs, and those still accepted during a rotation'),
  )
  .transform((secrets) => secrets.join(','));

const encoder = new TextEncoder();

/** The secrets of an `INTERNAL_AUTH_SECRET` comma list, in order: the first signs, each one verifies. */
export function secretsOf(secret: string): string[] {
  return secret.split(',').map((part) => part.trim());
}

/** The key that signs: the first secret of the list. */
export function signingKeyOf(secret: string): Uint8Array {
  return encoder.encode(secretsOf(secret)[0]!);
}

/** Verifies an HS256 token against each secret of the list in turn; the first that verifies wins. */
export async function verifyWithAnySecret(secret: string, token: string, options: JWTVerifyOptions): Promise<JWTPayload> {
  let failure: unknown;
  for (const candidate of secretsOf(secret)) {
    try {
      const { payload } = await jwtVerify(token, encoder.encode(candidate), options);
      return payload;
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}
