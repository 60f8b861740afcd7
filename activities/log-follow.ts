/**
 * Following an agent's log files as they grow: the CLI writes its stdout and stderr straight into the
 * files, and `LogReader` follows them from an offset (stdout read block by block for the parser, stderr
 * only measured, with its tail read at the end); `LineSplitter` cuts stdout into lines and passes on
 * those that start with `{`. Only the last few kilobytes of each stream stay in memory.
 */
import { open, type FileHandle } from 'node:fs/promises';

export const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;
export const DEFAULT_TAIL_BYTES = 16 * 1024;
const READ_BLOCK_BYTES = 4 * 1024 * 1024;
/** How often the log files are checked for new output when there was none. */
const IDLE_POLL_MS = 25;
const NEWLINE = 0x0a;
const OPEN_BRACE = 0x7b;

/**
 * Follows a log file from an offset as it grows. With `onBlock`, it reads every byte and hands each block
 * on (stdout, for the parser); without, it only tracks the size and reads the tail at the end (stderr, and
 * the output of agents that have no events), which costs nothing per byte.
 */
export class LogReader {
  readonly tail: TailBuffer;
  private handle: FileHandle | undefined;
  private position: number;
  private size: number;

  constructor(
    private readonly path: string,
    private readonly start: number,
    private readonly tailBytes: number,
    private readonly onBlock?: (block: Buffer) => void,
  ) {
    this.position = start;
    this.size = start;
    this.tail = new TailBuffer(tailBytes);
  }

  /** Bytes written after the start so far. */
  get bytes(): number {
    return Math.max(this.position, this.size) - this.start;
  }

  /** Take in what is there now; returns the number of bytes read (always 0 when only the size is tracked). */
  async poll(buffer: Buffer): Promise<number> {
    this.handle ??= await open(this.path, 'r');
    if (this.onBlock === undefined) {
      this.size = (await this.handle.stat()).size;
      return 0;
    }
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, this.position);
    if (bytesRead > 0) {
      const block = buffer.subarray(0, bytesRead);
      this.position += bytesRead;
      this.tail.push(block);
      this.onBlock(block);
    }
    return bytesRead;
  }

  /** After the last poll: the tail of a file whose bytes were not all read. */
  async finish(): Promise<void> {
    if (this.onBlock !== undefined || this.handle === undefined) return;
    this.size = (await this.handle.stat()).size;
    const from = Math.max(this.start, this.size - this.tailBytes);
    const buffer = Buffer.alloc(this.size - from);
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, from);
    this.tail.push(buffer.subarray(0, bytesRead));
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}

/** Follow the logs until `finished` resolves and everything written before it has been read. */
export async function readLogs(readers: LogReader[], finished: Promise<void>): Promise<void> {
  const buffer = Buffer.allocUnsafe(READ_BLOCK_BYTES);
  let done = false;
  void finished.then(() => {
    done = true;
  });
  try {
    for (;;) {
      // Checked before reading: once the writers are gone, one more pass that finds nothing ends it.
      const last = done;
      let got = 0;
      for (const reader of readers) got += await reader.poll(buffer);
      if (got > 0) continue;
      if (last) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([finished, new Promise((resolve) => (timer = setTimeout(resolve, IDLE_POLL_MS)))]);
      clearTimeout(timer);
    }
    for (const reader of readers) await reader.finish();
  } finally {
    await Promise.all(readers.map((r) => r.close()));
  }
}

/**
 * Cuts a byte stream into lines and passes on those that start with `{`, without `\r\n`, as views into
 * the stream's buffers: valid only during the call (copy what you keep).
 */
export class LineSplitter {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** The current (unfinished) line: undefined at a line start, else whether it is kept. */
  private keep: boolean | undefined;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: ((line: Buffer) => void) | undefined,
  ) {}

  push(chunk: Buffer): void {
    if (this.onLine === undefined) return;
    let start = 0;
    while (start < chunk.length) {
      if (this.keep === undefined) this.keep = chunk[start] === OPEN_BRACE;
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) {
        if (this.keep) this.hold(chunk.subarray(start));
        return;
      }
      if (this.keep) {
        if (this.carryBytes === 0) this.onLine(chunk.subarray(start, trimCr(chunk, start, end)));
        else {
          this.hold(chunk.subarray(start, end));
          if (this.keep) this.emitCarry();
        }
      }
      this.carry = [];
      this.carryBytes = 0;
      this.keep = undefined;
      start = end + 1;
    }
  }

  /** The last line, if the stream did not end with a newline. */
  end(): void {
    if (this.keep && this.carryBytes > 0) this.emitCarry();
    this.carry = [];
    this.carryBytes = 0;
    this.keep = undefined;
  }

  private hold(part: Buffer): void {
    if (this.carryBytes + part.length > this.maxLineBytes) {
      this.keep = false;
      this.carry = [];
      this.carryBytes = 0;
      return;
    }
    // Copied: a view would keep the whole 64 KiB chunk alive.
    this.carry.push(Buffer.from(part));
    this.carryBytes += part.length;
  }

  private emitCarry(): void {
    const line = Buffer.concat(this.carry, this.carryBytes);
    this.onLine?.(line.subarray(0, trimCr(line, 0, line.length)));
  }
}

function trimCr(buf: Buffer, start: number, end: number): number {
  return end > start && buf[end - 1] === 0x0d ? end - 1 : end;
}

/** The last `size` bytes of a stream. */
class TailBuffer {
  private buf = Buffer.alloc(0);
  constructor(private readonly size: number) {}

  push(chunk: Buffer): void {
    if (chunk.length >= this.size) {
      this.buf = Buffer.from(chunk.subarray(chunk.length - this.size));
    } else {
      const joined = Buffer.concat([this.buf, chunk]);
      this.buf = joined.length > this.size ? Buffer.from(joined.subarray(joined.length - this.size)) : joined;
    }
  }

  text(): string {
    // A cut may fall inside a multi-byte character; the replacement character is harmless in a tail.
    return this.buf.toString('utf8');
  }
}
