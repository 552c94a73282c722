import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

interface Guarded {
  child: ChildProcess | undefined;
  directory: string | undefined;
}

const guarded = new Set<Guarded>();
let exitHookInstalled = false;

// Runs after the Node process is gone, whatever killed it (SIGKILL, a crashed test worker): the broker
// JVM must not outlive the tests, and its temporary data directory should not pile up either.
const WATCHDOG = `
parent=$1; child=$2; dir=$3
while kill -0 "$parent" 2>/dev/null; do
  kill -0 "$child" 2>/dev/null || exit 0
  sleep 1
done
kill -TERM "$child" 2>/dev/null
for _ in 1 2 3 4 5; do kill -0 "$child" 2>/dev/null || break; sleep 1; done
kill -KILL "$child" 2>/dev/null
[ -n "$dir" ] && rm -rf "$dir"
exit 0
`;

function onExit(): void {
  for (const entry of guarded) {
    try {
      entry.child?.kill('SIGKILL');
    } catch {
      // Already gone.
    }
    if (entry.directory) {
      try {
        rmSync(entry.directory, { recursive: true, force: true });
      } catch {
        // Best effort: the watchdog or the OS's temp cleaner gets another chance.
      }
    }
  }
}

/** A handle that ties a child process and its scratch directory to this process's lifetime. */
export interface ProcessGuard {
  /** Track a (re)started child; it is killed when this process exits. */
  watch(child: ChildProcess): void;
  /** Stop tracking: the child is stopped and the directory removed by their owner. */
  release(): void;
}

/** Registers `directory` (and later its child processes) for cleanup when this Node process exits. */
export function guardResources(directory: string | undefined): ProcessGuard {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', onExit);
  }
  const entry: Guarded = { child: undefined, directory };
  guarded.add(entry);
  return {
    watch(child) {
      entry.child = child;
      startWatchdog(child, directory);
    },
    release() {
      guarded.delete(entry);
    },
  };
}

function startWatchdog(child: ChildProcess, directory: string | undefined): void {
  if (process.platform === 'win32' || child.pid === undefined) return;
  try {
    // Detached: a Ctrl-C to the test's process group must not take the watchdog down with it.
    const watchdog = spawn('sh', ['-c', WATCHDOG, 'pep-test-watchdog', String(process.pid), String(child.pid), directory ?? ''], {
      detached: true,
      stdio: 'ignore',
    });
    watchdog.on('error', () => undefined);
    watchdog.unref();
  } catch {
    // Without sh the exit hook above still covers normal exits.
  }
}
