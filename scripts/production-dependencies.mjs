// @ts-check
// What one workspace (a service) needs at run time, read from package-lock.json, for the image build:
//   node scripts/production-dependencies.mjs prune services/patients       deletes every other installed package
//   node scripts/production-dependencies.mjs workspaces services/patients  prints the workspace folders it uses
//   node scripts/production-dependencies.mjs list services/patients        prints the installed packages it keeps
// `npm ci --omit=dev --workspace <service>` alone installs more. npm decides what is "dev" for the whole
// repository, where every workspace is a production dependency of the root: so whatever any workspace needs at run
// time (PGlite, for the embedded runtime) or a test helper's dependencies (an SMTP server) count as production, and
// a service reaches them through its devDependencies. And a runtime library's optional peer that development
// installs (the Prisma CLI and TypeScript, both optional peers of @prisma/client) is never left out by --omit=dev.
// Here only `dependencies`, `optionalDependencies` and required peers are followed, from the service down.
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, posix } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

/**
 * One entry of package-lock.json's `packages` (lockfile version 2 or 3).
 * @typedef {{
 *   link?: boolean,
 *   resolved?: string,
 *   dependencies?: Record<string, string>,
 *   optionalDependencies?: Record<string, string>,
 *   peerDependencies?: Record<string, string>,
 *   peerDependenciesMeta?: Record<string, { optional?: boolean }>,
 * }} LockEntry
 */

/**
 * The lockfile locations (`node_modules/pg`, `packages/db`, ...) a workspace needs at run time: the workspace
 * itself and everything its production dependencies reach, resolved as Node resolves them (nearest node_modules
 * first). A workspace reached through its link appears under both the link and the folder it points to.
 * @param {Record<string, LockEntry>} packages the lockfile's `packages`
 * @param {string} workspace the workspace's folder, e.g. `services/patients`
 * @returns {Set<string>}
 */
export function productionClosure(packages, workspace) {
  if (!packages[workspace]) throw new Error(`${workspace} is not a workspace in package-lock.json`);
  const keep = new Set([workspace]);
  const queue = [workspace];
  for (let location = queue.pop(); location !== undefined; location = queue.pop()) {
    const entry = /** @type {LockEntry} */ (packages[location]);
    const optionalPeers = entry.peerDependenciesMeta ?? {};
    const wanted = [
      ...Object.keys(entry.dependencies ?? {}).map((name) => ({ name, optional: false })),
      ...Object.keys(entry.optionalDependencies ?? {}).map((name) => ({ name, optional: true })),
      ...Object.keys(entry.peerDependencies ?? {})
        .filter((name) => !optionalPeers[name]?.optional)
        .map((name) => ({ name, optional: false })),
    ];
    for (const { name, optional } of wanted) {
      const found = resolve(packages, location, name);
      if (found === undefined) {
        if (optional) continue;
        throw new Error(`${location} needs ${name}, which package-lock.json does not have where Node would look`);
      }
      for (const reached of linkAndTarget(packages, found)) {
        if (keep.has(reached)) continue;
        keep.add(reached);
        queue.push(reached);
      }
    }
  }
  return keep;
}

/**
 * Where Node finds `name` when required from the package at `from`: its own node_modules, then each enclosing one.
 * @param {Record<string, LockEntry>} packages
 * @param {string} from
 * @param {string} name
 * @returns {string | undefined}
 */
function resolve(packages, from, name) {
  for (let dir = from; ; dir = posix.dirname(dir)) {
    const base = dir === '.' || dir === '' ? '' : `${dir}/`;
    if (!base.endsWith('node_modules/')) {
      const candidate = `${base}node_modules/${name}`;
      if (packages[candidate]) return candidate;
    }
    if (base === '') return undefined;
  }
}

/**
 * @param {Record<string, LockEntry>} packages
 * @param {string} location
 * @returns {string[]}
 */
function linkAndTarget(packages, location) {
  const entry = packages[location];
  return entry?.link && entry.resolved ? [location, entry.resolved] : [location];
}

/**
 * The installed package folders under `root` (node_modules at the top and in every workspace, nested ones
 * included), as lockfile locations.
 * @param {string} root
 * @param {Record<string, LockEntry>} packages
 * @returns {string[]}
 */
function installedPackages(root, packages) {
  /** @type {string[]} */
  const found = [];
  /** @param {string} modules a node_modules folder, relative to root */
  const walk = (modules) => {
    if (!existsSync(join(root, modules))) return;
    for (const name of readdirSync(join(root, modules))) {
      if (name.startsWith('.')) continue;
      const scoped = name.startsWith('@') ? readdirSync(join(root, modules, name)).map((inner) => `${name}/${inner}`) : [name];
      for (const pkg of scoped) {
        const location = `${modules}/${pkg}`;
        found.push(location);
        if (!lstatSync(join(root, location)).isSymbolicLink()) walk(`${location}/node_modules`);
      }
    }
  };
  walk('node_modules');
  for (const location of Object.keys(packages)) {
    if (location !== '' && !location.includes('node_modules/')) walk(`${location}/node_modules`);
  }
  return found;
}

/**
 * Deletes every installed package `workspace` does not need at run time, and the links in node_modules/.bin
 * that then point nowhere. Returns the locations it deleted.
 * @param {string} root the repository (or image) folder holding package-lock.json and node_modules
 * @param {string} workspace
 * @returns {string[]}
 */
export function pruneToProduction(root, workspace) {
  const { packages } = readLockfile(root);
  const keep = productionClosure(packages, workspace);
  const removed = installedPackages(root, packages).filter((location) => !keep.has(location));
  for (const location of removed) rmSync(join(root, location), { recursive: true, force: true });
  const bin = join(root, 'node_modules', '.bin');
  if (existsSync(bin)) {
    for (const name of readdirSync(bin)) {
      if (!existsSync(join(bin, name))) rmSync(join(bin, name), { force: true });
    }
  }
  // npm's record of the installed tree; it would now describe packages that are gone.
  rmSync(join(root, 'node_modules', '.package-lock.json'), { force: true });
  return removed;
}

/**
 * @param {string} root
 * @returns {{ packages: Record<string, LockEntry> }}
 */
export function readLockfile(root) {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  if (!lock.packages) throw new Error('package-lock.json has no "packages" (lockfile version 2 or later is needed)');
  return lock;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [command, workspace] = process.argv.slice(2);
  const root = process.cwd();
  if (!workspace || !['prune', 'workspaces', 'list'].includes(command ?? '')) {
    process.stderr.write('usage: node scripts/production-dependencies.mjs prune|workspaces|list <workspace folder>\n');
    process.exit(2);
  }
  const { packages } = readLockfile(root);
  const keep = productionClosure(packages, workspace);
  if (command === 'workspaces') {
    const folders = [...keep].filter((location) => !location.includes('node_modules/')).sort();
    process.stdout.write(`${folders.join('\n')}\n`);
  } else if (command === 'list') {
    const installed = installedPackages(root, packages).filter((location) => keep.has(location));
    process.stdout.write(`${installed.sort().join('\n')}\n`);
  } else {
    const removed = pruneToProduction(root, workspace);
    const left = installedPackages(root, packages).length;
    process.stdout.write(`${workspace}: removed ${removed.length} packages outside its production dependencies; ${left} remain\n`);
  }
}
