// Child process of the gateway benchmark: the real patients service (PGlite in memory, in-process
// bus) and the real gateway in front of it, verifying ES256 tokens from a local key set.
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { InProcessBus } from '@pep/bus';
import { migrate, openDatabase } from '@pep/db';
import { buildApp as buildGateway, verifierFor, TOKEN_AUDIENCE, TOKEN_ISSUER } from '@pep/gateway';
import { buildApp as buildPatients, migrationsDir } from '@pep/patients';
import { createLogger, signIdentity } from '@pep/service-kit';

const secret = 'bench-internal-secret-0123456789abcdef';
const logger = createLogger({ service: 'bench', level: 'warn' });
const identity = { organization: '5e1f3b8a-9c2d-4e6f-8a1b-2c3d4e5f6a7b', user: 'bench-user', roles: ['staff'] };

const database = await openDatabase({ kind: 'pglite', dataDir: null });
await migrate(database, { migrationsDir });
const bus = new InProcessBus({});
const patients = await buildPatients({ logger, database, bus, internalAuthSecret: secret });
const patientsUrl = await patients.listen({ host: '127.0.0.1', port: 0 });

const { publicKey, privateKey } = await generateKeyPair('ES256');
const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'ES256' };
const gateway = await buildGateway({
  logger,
  upstreams: { patients: patientsUrl },
  internalAuthSecret: secret,
  verifyToken: verifierFor(createLocalJWKSet({ keys: [jwk] })),
  rateLimitPerMinute: 10_000_000,
});
const gatewayUrl = await gateway.listen({ host: '127.0.0.1', port: 0 });

const internal = await signIdentity(secret, identity, 3600);
const created = await fetch(`${patientsUrl}/api/patients`, {
  method: 'POST',
  headers: { 'content-type': 'application/json', 'x-internal-identity': internal },
  body: JSON.stringify({ firstname: 'Bench', lastname: 'Mark', phone: '+14155552671' }),
});
const patient = await created.json();
const token = await new SignJWT({ org: identity.organization, roles: identity.roles, kind: 'staff' })
  .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
  .setSubject(identity.user)
  .setIssuer(TOKEN_ISSUER)
  .setAudience(TOKEN_AUDIENCE)
  .setIssuedAt()
  .setExpirationTime('1h')
  .sign(privateKey);

process.stdout.write(`${JSON.stringify({ gatewayUrl, patientsUrl, path: `/api/patients/${patient._id}`, token, internal })}\n`);
process.on('SIGTERM', async () => {
  await gateway.close();
  await patients.close();
  await bus.close();
  await database.close();
  process.exit(0);
});
