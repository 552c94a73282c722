import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { asString, dig, fromRoot } from './repo.js';

/** The Kubernetes Java client whose generated models validate the manifests a second time. */
export const CLIENT_JAVA_VERSION = '25.0.0';

const JAVA_DIR = fromRoot('packages', 'deploy', 'java');
const POM = path.join(JAVA_DIR, 'pom.xml');
const PROGRAM = path.join(JAVA_DIR, 'ValidateManifests.java');
const MARKER = '.complete';

/**
 * Kinds only operators' CRDs define (the Java client has no models for them): these are validated by the
 * CRD packages in the JavaScript checks alone.
 */
export const CUSTOM_RESOURCE_GROUPS = ['monitoring.coreos.com', 'gateway.networking.k8s.io', 'external-secrets.io', 'cert-manager.io'];

export function isCustomResource(doc: unknown): boolean {
  const group = (asString(dig(doc, 'apiVersion')) ?? '').split('/', 2)[0] ?? '';
  return CUSTOM_RESOURCE_GROUPS.includes(group);
}

/** Where the jars are cached: `$PEP_CACHE_DIR/...`, else `${XDG_CACHE_HOME:-~/.cache}/patient-engagement-platform/...`. */
export function clientJavaCacheDir(): string {
  const root =
    process.env.PEP_CACHE_DIR || path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'patient-engagement-platform');
  return path.join(root, `kubernetes-client-java-${CLIENT_JAVA_VERSION}`);
}

/**
 * A directory of the Java client's jars, fetched from Maven Central once per machine (Maven's own repository
 * cache makes later fetches local). The marker holds the pom's digest, so another version refreshes the cache.
 */
export function ensureClientJavaJars(): string {
  const cacheDir = clientJavaCacheDir();
  const libs = path.join(cacheDir, 'libs');
  const digest = createHash('sha256').update(readFileSync(POM)).digest('hex');
  const complete = (): boolean => existsSync(path.join(libs, MARKER)) && readFileSync(path.join(libs, MARKER), 'utf8').trim() === digest;
  if (complete()) return libs;
  mkdirSync(cacheDir, { recursive: true });
  // Downloaded beside the cache and renamed into place, so no reader sees a half-filled libs/.
  const work = mkdtempSync(path.join(cacheDir, 'download-'));
  try {
    const out = path.join(work, 'libs');
    const maven = spawnSync(
      process.env.MAVEN_CMD || 'mvn',
      ['-q', '-B', '-f', POM, 'dependency:copy-dependencies', `-DoutputDirectory=${out}`],
      { cwd: work, encoding: 'utf8', timeout: 10 * 60_000 },
    );
    if (maven.error) {
      throw new Error(
        `Cannot run Maven (${maven.error.message}): the manifest checks need Java 17+ and Maven to fetch io.kubernetes:client-java-api`,
      );
    }
    if (maven.status !== 0) throw new Error(`Maven failed:\n${`${maven.stdout}${maven.stderr}`.slice(-4_000)}`);
    if (!readdirSync(out).includes(`client-java-api-${CLIENT_JAVA_VERSION}.jar`)) {
      throw new Error(`Maven finished but ${out} lacks client-java-api-${CLIENT_JAVA_VERSION}.jar`);
    }
    writeFileSync(path.join(out, MARKER), digest);
    rmSync(libs, { recursive: true, force: true });
    try {
      renameSync(out, libs);
    } catch (error) {
      // Another process filled the cache meanwhile; its copy is as good as ours.
      if (!complete()) throw error;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return libs;
}

/**
 * Validates documents with the Java client's models, all in one JVM. Returns, per document, the problem the
 * model reported (its first), or undefined for a valid one.
 */
export function javaProblems(docs: unknown[], libs = ensureClientJavaJars()): Array<string | undefined> {
  const output = execFileSync('java', ['-cp', `${libs}${path.sep}*`, PROGRAM], {
    input: JSON.stringify(docs),
    encoding: 'utf8',
    timeout: 120_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  const problems: Array<string | undefined> = docs.map(() => undefined);
  for (const line of output.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    problems[Number(line.slice(0, tab))] = line.slice(tab + 1);
  }
  return problems;
}
