import { mkdir, open, readdir, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

/** One record of a partition log. Offsets are dense and start at 0: a record's offset is its index. */
export interface StoredRecord {
  offset: number;
  key: string | null;
  value: Buffer;
  headers: Record<string, string>;
  /** Milliseconds since the epoch when the record was appended. */
  timestamp: number;
}

/** What a store holds when the bus starts. */
export interface StoredState {
  /** Topic → its partitions' records. */
  topics: Map<string, StoredRecord[][]>;
  /** Group → topic → partition → next offset to consume. */
  offsets: Map<string, Map<string, Map<number, number>>>;
}

/** Where the in-process bus keeps its logs and committed offsets. */
export interface LogStore {
  load(): Promise<StoredState>;
  createTopic(topic: string, partitions: number): Promise<void>;
  /** Must resolve only once the records are durable (as durable as the store promises). */
  append(topic: string, partition: number, records: StoredRecord[]): Promise<void>;
  commit(groupId: string, topic: string, partition: number, offset: number): Promise<void>;
  close(): Promise<void>;
}

/** Keeps nothing: the bus's in-memory structures are the only copy. */
export class MemoryStore implements LogStore {
  async load(): Promise<StoredState> {
    return { topics: new Map(), offsets: new Map() };
  }
  async createTopic(): Promise<void> {}
  async append(): Promise<void> {}
  async commit(): Promise<void> {}
  async close(): Promise<void> {}
}

/** A line of a partition file. `v` holds a value that is valid UTF-8, `b` any other value (base64). */
interface RecordLine {
  o: number;
  k: string | null;
  h: Record<string, string>;
  t: number;
  v?: string;
  b?: string;
}

/** A line of a group's offsets file. */
interface CommitLine {
  t: string;
  p: number;
  o: number;
}

/** Rewrite a group's offsets file once it holds this many superseded lines, so it cannot grow without bound. */
const COMPACT_AFTER_LINES = 10_000;

interface OpenFile {
  handle: FileHandle;
  /** Bytes known to be complete lines; a failed append is cut back to this. */
  size: number;
}

/**
 * Stores each topic-partition as an append-only JSON-lines file and each consumer group's commits
 * as an append-only JSON-lines file (last line per partition wins), under one directory:
 *
 *     topics/<topic>/meta.json, topics/<topic>/<partition>.jsonl, groups/<group>.jsonl
 *
 * Appends reach the operating system before they resolve, so a crash of the process loses nothing;
 * with `fsync` they also reach the disk, so a power loss loses nothing. A torn last line (a crash
 * in the middle of a write) is cut off on load. One process at a time may use a directory.
 */
export class FileStore implements LogStore {
  private readonly files = new Map<string, OpenFile>();
  /** Writes to one file run one at a time (commits of a group's partitions arrive concurrently). */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly commitLines = new Map<string, number>();
  private readonly committed = new Map<string, Map<string, Map<number, number>>>();

  constructor(
    private readonly dir: string,
    private readonly fsync = false,
  ) {}

  async load(): Promise<StoredState> {
    await mkdir(join(this.dir, 'topics'), { recursive: true });
    await mkdir(join(this.dir, 'groups'), { recursive: true });
    const topics = new Map<string, StoredRecord[][]>();
    for (const entry of await readdir(join(this.dir, 'topics'), { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const topic = entry.name;
      const metaPath = join(this.dir, 'topics', topic, 'meta.json');
      const meta = JSON.parse(await readFile(metaPath, 'utf8').catch(() => 'null')) as { partitions?: unknown } | null;
      // A directory without metadata is a topic whose creation was interrupted before anything was appended.
      if (!meta || typeof meta.partitions !== 'number') continue;
      const partitions: StoredRecord[][] = [];
      for (let partition = 0; partition < meta.partitions; partition++) {
        partitions.push(await this.loadPartition(topic, partition));
      }
      topics.set(topic, partitions);
    }
    for (const entry of await readdir(join(this.dir, 'groups'), { withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.jsonl')) continue;
      const groupId = decodeURIComponent(entry.name.slice(0, -'.jsonl'.length));
      this.committed.set(groupId, await this.loadGroup(groupId));
      // Start each run with a compact file; the history of superseded commits is of no use.
      await this.compactGroup(groupId);
    }
    return { topics, offsets: cloneOffsets(this.committed) };
  }

  async createTopic(topic: string, partitions: number): Promise<void> {
    const dir = join(this.dir, 'topics', topic);
    await mkdir(dir, { recursive: true });
    for (let partition = 0; partition < partitions; partition++) {
      await writeFile(join(dir, `${partition}.jsonl`), '', { flag: 'a' });
    }
    // Written last and atomically: its presence means every partition file exists.
    await writeAtomically(join(dir, 'meta.json'), JSON.stringify({ partitions }), this.fsync);
  }

  async append(topic: string, partition: number, records: StoredRecord[]): Promise<void> {
    const text = records.map((record) => JSON.stringify(toLine(record))).join('\n') + '\n';
    const path = join(this.dir, 'topics', topic, `${partition}.jsonl`);
    await this.serialize(path, () => this.appendText(path, text));
  }

  async commit(groupId: string, topic: string, partition: number, offset: number): Promise<void> {
    let byTopic = this.committed.get(groupId);
    if (!byTopic) this.committed.set(groupId, (byTopic = new Map()));
    let byPartition = byTopic.get(topic);
    if (!byPartition) byTopic.set(topic, (byPartition = new Map()));
    byPartition.set(partition, offset);
    const line: CommitLine = { t: topic, p: partition, o: offset };
    const path = this.groupPath(groupId);
    await this.serialize(path, async () => {
      await this.appendText(path, JSON.stringify(line) + '\n');
      const lines = (this.commitLines.get(groupId) ?? 0) + 1;
      this.commitLines.set(groupId, lines);
      if (lines >= COMPACT_AFTER_LINES) await this.compactGroup(groupId);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.queues.values());
    const files = [...this.files.values()];
    this.files.clear();
    await Promise.all(files.map((file) => file.handle.close().catch(() => undefined)));
  }

  private groupPath(groupId: string): string {
    // Group ids may hold characters a file name cannot; '.' and '..' must not name a directory entry either.
    return join(this.dir, 'groups', `${encodeURIComponent(groupId).replace(/\./g, '%2E')}.jsonl`);
  }

  private async loadPartition(topic: string, partition: number): Promise<StoredRecord[]> {
    const path = join(this.dir, 'topics', topic, `${partition}.jsonl`);
    const lines = await readLines(path);
    return lines.map((text, index) => {
      const record = fromLine(JSON.parse(text) as RecordLine);
      if (record.offset !== index)
        throw new Error(`partition log ${topic}/${partition} is corrupt: offset ${record.offset} at line ${index + 1}`);
      return record;
    });
  }

  private async loadGroup(groupId: string): Promise<Map<string, Map<number, number>>> {
    const byTopic = new Map<string, Map<number, number>>();
    for (const text of await readLines(this.groupPath(groupId))) {
      const line = JSON.parse(text) as CommitLine;
      let byPartition = byTopic.get(line.t);
      if (!byPartition) byTopic.set(line.t, (byPartition = new Map()));
      byPartition.set(line.p, line.o);
    }
    return byTopic;
  }

  private async compactGroup(groupId: string): Promise<void> {
    const path = this.groupPath(groupId);
    const open = this.files.get(path);
    if (open) {
      this.files.delete(path);
      await open.handle.close();
    }
    const lines: string[] = [];
    for (const [topic, byPartition] of this.committed.get(groupId) ?? []) {
      for (const [partition, offset] of byPartition) lines.push(JSON.stringify({ t: topic, p: partition, o: offset } satisfies CommitLine));
    }
    await writeAtomically(path, lines.map((line) => line + '\n').join(''), this.fsync);
    this.commitLines.set(groupId, lines.length);
  }

  private serialize<T>(path: string, work: () => Promise<T>): Promise<T> {
    const run = (this.queues.get(path) ?? Promise.resolve()).then(work);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(path, settled);
    settled.then(() => {
      if (this.queues.get(path) === settled) this.queues.delete(path);
    });
    return run;
  }

  private async appendText(path: string, text: string): Promise<void> {
    let file = this.files.get(path);
    if (!file) {
      const handle = await open(path, 'a');
      file = { handle, size: (await handle.stat()).size };
      this.files.set(path, file);
    }
    const bytes = Buffer.from(text, 'utf8');
    try {
      await file.handle.appendFile(bytes);
      if (this.fsync) await file.handle.datasync();
      file.size += bytes.length;
    } catch (error) {
      // Cut a partial write back off, or the next append would be glued onto a torn line.
      await file.handle.truncate(file.size).catch(() => undefined);
      throw error;
    }
  }
}

/** Reads a JSON-lines file, cutting off a torn last line; a missing file reads as empty. */
async function readLines(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const complete = text.lastIndexOf('\n') + 1;
  if (complete < text.length) {
    const handle = await open(path, 'r+');
    try {
      await handle.truncate(Buffer.byteLength(text.slice(0, complete), 'utf8'));
    } finally {
      await handle.close();
    }
  }
  return text
    .slice(0, complete)
    .split('\n')
    .filter((line) => line.length > 0);
}

async function writeAtomically(path: string, text: string, fsync: boolean): Promise<void> {
  const temporary = `${path}.tmp`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(text, 'utf8');
    if (fsync) await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
}

function toLine(record: StoredRecord): RecordLine {
  const line: RecordLine = { o: record.offset, k: record.key, h: record.headers, t: record.timestamp };
  // Text stays readable in the file (operators can inspect it); only bytes that are not UTF-8 need base64.
  const text = record.value.toString('utf8');
  if (Buffer.from(text, 'utf8').equals(record.value)) line.v = text;
  else line.b = record.value.toString('base64');
  return line;
}

function fromLine(line: RecordLine): StoredRecord {
  const value = line.v !== undefined ? Buffer.from(line.v, 'utf8') : Buffer.from(line.b ?? '', 'base64');
  return { offset: line.o, key: line.k, headers: line.h, timestamp: line.t, value };
}

function cloneOffsets(source: Map<string, Map<string, Map<number, number>>>): Map<string, Map<string, Map<number, number>>> {
  return new Map(
    [...source].map(([group, byTopic]) => [group, new Map([...byTopic].map(([topic, byPartition]) => [topic, new Map(byPartition)]))]),
  );
}
