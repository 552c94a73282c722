// Child processes of the gateway benchmark, as production runs them: `patients` serves the real
// patients service (on BENCH_DATABASE_URL when given, else PGlite in memory); `gateway <url>` runs
// the real gateway in front of it, verifying ES256 tokens from a key set it makes and prints.
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { InProcessBus } from '@pep/bus';
import { migrate, openDatabase } from '@pep/db';
import { buildApp as buildGateway, verifierFor, TOKEN_AUDIENCE, TOKEN_ISSUER } from '@pep/gateway';
import { buildApp as buildPatients, migrationsDir } from '@pep/patients';
import { createLogger, signIdentity } from '@pep/service-kit';

export const SECRET = 'bench-internal-secret-0123456789abcdef';
export const IDENTITY = { organization: '5e1f3b8a-9c2d-4e6f-8a1b-2c3d4e5f6a7b', user: 'bench-user', roles: ['staff'] };
const logger = createLogger({ service: 'bench', level: 'warn' });
const [role, upstream] = process.argv.slice(2);
const closers = [];

if (role === 'patients') {
  const url = process.env.BENCH_DATABASE_URL;
  const database = await openDatabase(url ? { kind: 'postgres', url } : { kind: 'pglite', dataDir: null });
  await migrate(database, { migrationsDir });
  const bus = new InProcessBus({});
  const app = await buildPatients({ logger, database, bus, internalAuthSecret: SECRET });
  const patientsUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  const internal = await signIdentity(SECRET, IDENTITY, 3600);
  const created = await fetch(`${patientsUrl}/api/patients`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-internal-identity': internal },
    body: JSON.stringify({ firstname: 'Bench', lastname: 'Mark', phone: '+14155552671' }),
  });
  const patient = await created.json();
  closers.push(
    () => app.close(),
    () => bus.close(),
    () => database.close(),
  );
  process.stdout.write(`${JSON.stringify({ patientsUrl, path: `/api/patients/${patient._id}`, internal })}\n`);
} else {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' };
  const app = await buildGateway({
    logger,
    upstreams: { patients: upstream },
    internalAuthSecret: SECRET,
    verifyToken: verifierFor(createLocalJWKSet({ keys: [jwk] })),
    rateLimitPerMinute: 100_000_000,
  });
  const gatewayUrl = await app.listen({ host: '127.0.0.1', port: 0 });
  const token = await new SignJWT({ org: IDENTITY.organization, roles: IDENTITY.roles, kind: 'staff' })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench', typ: 'at+jwt' })
    .setSubject(IDENTITY.user)
    .setJti(crypto.randomUUID())
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  closers.push(() => app.close());
  process.stdout.write(`${JSON.stringify({ gatewayUrl, token })}\n`);
}

process.on('SIGTERM', async () => {
  for (const close of closers) await close();
  process.exit(0);
});
