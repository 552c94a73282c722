import { readFileSync } from 'node:fs';
import { posix } from 'node:path';

export interface Instruction {
  keyword: string;
  args: string;
}

export interface Stage {
  from: string;
  name: string | undefined;
  instructions: Instruction[];
}

/**
 * A deliberately small Dockerfile reader: joins continuation lines, drops comments and parser
 * directives, and groups instructions by stage. Enough for structural checks, not a builder.
 * `buildArgs` are the `--build-arg`s of one build: with them, `${NAME}` and `$NAME` are replaced as
 * the build would replace them (ARG and ENV values; in RUN the shell sees the same values), so the
 * checks see one service's image. CMD, ENTRYPOINT and HEALTHCHECK are left as written: they run in
 * the container.
 */
export function parseDockerfile(text: string, buildArgs: Record<string, string> = {}): Stage[] {
  const logical: string[] = [];
  let pending = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const joined = `${pending}${line}`.trim();
    pending = '';
    if (joined) logical.push(joined);
  }
  if (pending.trim()) logical.push(pending.trim());

  const stages: Stage[] = [];
  // ARGs before the first FROM serve FROM lines, and a stage that declares one again (`ARG NAME`).
  const globalArgs = new Map<string, string>();
  let scope = new Map<string, string>();
  const declare = (target: Map<string, string>, declaration: string, fallback: Map<string, string>) => {
    const [, name = '', value] = /^(\w+)(?:=(.*))?$/.exec(declaration) ?? [];
    const given = buildArgs[name] ?? (value !== undefined ? substitute(unquote(value), target) : fallback.get(name));
    if (given !== undefined) target.set(name, given);
  };
  for (const line of logical) {
    const match = /^(\S+)\s*(.*)$/s.exec(line);
    const keyword = (match?.[1] ?? '').toUpperCase();
    const written = (match?.[2] ?? '').replace(/\s+/g, ' ').trim();
    if (keyword === 'FROM') {
      const from = /^(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?/i.exec(substitute(written, globalArgs));
      stages.push({ from: from?.[1] ?? '', name: from?.[2], instructions: [] });
      scope = new Map();
      continue;
    }
    if (stages.length === 0) {
      // ARG before the first FROM is the only instruction allowed there.
      if (keyword === 'ARG') declare(globalArgs, written, new Map());
      continue;
    }
    const args = RUNS_IN_CONTAINER.has(keyword) ? written : substitute(written, scope);
    if (keyword === 'ARG') declare(scope, written, globalArgs);
    if (keyword === 'ENV') {
      for (const [, name = '', value = ''] of args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) scope.set(name, unquote(value));
    }
    stages[stages.length - 1]!.instructions.push({ keyword, args });
  }
  return stages;
}

const RUNS_IN_CONTAINER = new Set(['CMD', 'ENTRYPOINT', 'HEALTHCHECK']);

function unquote(value: string): string {
  return value.replace(/^"(.*)"$/, '$1');
}

/** `${NAME}` and `$NAME` replaced by their values; unknown names are left as written. */
function substitute(text: string, values: Map<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, braced?: string, bare?: string) => values.get(braced ?? bare ?? '') ?? whole);
}

export function readDockerfile(file: string, buildArgs: Record<string, string> = {}): Stage[] {
  return parseDockerfile(readFileSync(file, 'utf8'), buildArgs);
}

/** The stage a stage builds on, following `FROM <earlier stage>` back to an image. */
function lineage(stages: Stage[], stage: Stage): Stage[] {
  const chain = [stage];
  let current = stage;
  for (;;) {
    const parent = stages.find((candidate) => candidate.name !== undefined && candidate.name === current.from);
    if (!parent || chain.includes(parent)) return chain;
    chain.push(parent);
    current = parent;
  }
}

function lastOf(stages: Stage[], stage: Stage, keyword: string): Instruction | undefined {
  for (const link of lineage(stages, stage)) {
    const found = link.instructions.filter((instruction) => instruction.keyword === keyword).at(-1);
    if (found) return found;
  }
  return undefined;
}

/** A stage's environment, including what it inherits from earlier stages. */
function envOf(stages: Stage[], stage: Stage): Map<string, string> {
  const env = new Map<string, string>();
  for (const link of lineage(stages, stage).reverse()) {
    for (const instruction of link.instructions.filter((i) => i.keyword === 'ENV')) {
      for (const match of instruction.args.matchAll(/(\w+)=("[^"]*"|\S+)/g)) {
        env.set(match[1] ?? '', (match[2] ?? '').replace(/^"|"$/g, ''));
      }
    }
  }
  return env;
}

export interface DockerfileExpectations {
  service: string;
  hasDatabase: boolean;
  /** The port the service listens on in Kubernetes and compose; the image must expose it. */
  port?: number;
}

/** Node 24 (LTS) on a slim Debian, pinned to a release and optionally to a digest. */
const NODE_BASE_IMAGE = /^node:24\.\d+\.\d+-(trixie|bookworm)-slim(@sha256:[0-9a-f]{64})?$/;

export function dockerfileProblems(stages: Stage[], expected: DockerfileExpectations): string[] {
  const problems: string[] = [];
  const runtime = stages.at(-1);
  if (stages.length < 2 || !runtime) {
    return ['must be multi-stage: build tools and sources stay out of the runtime image'];
  }
  for (const stage of stages) {
    const fromStage = stages.some((other) => other.name === stage.from);
    if (!fromStage && !NODE_BASE_IMAGE.test(stage.from)) {
      problems.push(
        `stage ${stage.name ?? stage.from}: base image must be Node 24 slim, pinned to a release (node:24.x.y-<debian>-slim), not ${stage.from}`,
      );
    }
  }
  const all = stages.flatMap((stage) => stage.instructions);

  const user = lastOf(stages, runtime, 'USER')?.args.split(':')[0];
  if (!user) problems.push('runtime stage: no USER, so it runs as root');
  else if (user === 'root' || user === '0') problems.push(`runtime stage: USER ${user} is root`);
  else if (!/^\d+$/.test(user) || Number(user) < 10000) {
    problems.push(`runtime stage: USER should be a numeric uid of 10000 or more (got ${user})`);
  }

  const cmd = lastOf(stages, runtime, 'CMD')?.args;
  let command: unknown;
  try {
    command = cmd ? JSON.parse(cmd) : undefined;
  } catch {
    command = undefined;
  }
  const main = `services/${expected.service}/dist/main.js`;
  const workdir = lastOf(stages, runtime, 'WORKDIR')?.args ?? '/';
  const script = Array.isArray(command) && typeof command[1] === 'string' ? posix.resolve(workdir, command[1]) : '';
  if (!Array.isArray(command) || command[0] !== 'node' || !script.endsWith(`/${main}`)) {
    problems.push(`runtime stage: CMD must be the exec form ["node", <${main}>] (so node receives SIGTERM)`);
  }
  if (!workdir.endsWith(`/services/${expected.service}`)) {
    problems.push(`runtime stage: WORKDIR must be the service's folder (services/${expected.service}), where its Jobs run dist/migrate.js`);
  }
  if (envOf(stages, runtime).get('NODE_ENV') !== 'production') problems.push('runtime stage: NODE_ENV must be production');

  const exposed = lastOf(stages, runtime, 'EXPOSE')
    ?.args.split(/\s+/)
    .map((port) => Number(port.split('/')[0]));
  if (!exposed?.length) problems.push('runtime stage: EXPOSE is missing');
  else if (expected.port !== undefined && !exposed.includes(expected.port)) {
    problems.push(`runtime stage: exposes ${exposed.join(', ')} but the service listens on ${expected.port}`);
  }

  const runs = all.filter((instruction) => instruction.keyword === 'RUN').map((instruction) => instruction.args);
  if (!runs.some((run) => /\bnpm ci\b/.test(run))) problems.push('dependencies must be installed with npm ci (lockfile)');
  if (!runs.some((run) => /--omit=dev/.test(run))) {
    problems.push('production dependencies only: no npm ci/prune with --omit=dev');
  }
  if (!runs.some((run) => new RegExp(`nx run "?(@pep/)?${expected.service}:build\\b`).test(run))) {
    problems.push(`the build stage must run the service's build (nx run ${expected.service}:build)`);
  }
  if (!runs.some((run) => new RegExp(`production-dependencies\\.mjs prune "?services/${expected.service}\\b`).test(run))) {
    problems.push(
      `production dependencies must be pruned to the service's own (node scripts/production-dependencies.mjs prune services/${expected.service})`,
    );
  }
  const mentionsMigrations = all.some(
    (instruction) =>
      (instruction.keyword === 'COPY' || instruction.keyword === 'RUN') && instruction.args.includes(`services/${expected.service}/prisma`),
  );
  if (expected.hasDatabase && !mentionsMigrations) {
    problems.push(`the image must ship services/${expected.service}/prisma (the migrations migrate.js applies)`);
  }
  const runtimeSources = runtime.instructions.filter((instruction) => instruction.keyword === 'COPY' && !/--from=/.test(instruction.args));
  if (runtimeSources.length > 0) {
    problems.push('runtime stage: copies from the build context directly; take built output from earlier stages');
  }
  return problems;
}
