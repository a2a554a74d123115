/**
 * An append-only file written in large chunks: callers copy small records in
 * synchronously (no await, no syscall per record); full chunks go to the file through a
 * WriteStream, and a timer flushes a partial chunk every second so a capture can be
 * read while it grows. Shared by the pcap writer and the event trace.
 */
import { createWriteStream, type WriteStream } from 'node:fs';

const CHUNK = 256 * 1024;

export class ChunkedFile {
  private chunk = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  private readonly timer: NodeJS.Timeout;
  private error: Error | undefined;
  private closed = false;

  private constructor(private readonly stream: WriteStream) {
    stream.on('error', (e) => {
      this.error ??= e;
    });
    this.timer = setInterval(() => this.flush(), 1000);
    this.timer.unref();
  }

  /** Opens (truncates) `path`; rejects with the fs error (ENOENT, EACCES...). */
  static async open(path: string): Promise<ChunkedFile> {
    const stream = createWriteStream(path);
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => {
        stream.off('error', reject);
        resolve();
      });
      stream.once('error', reject);
    });
    return new ChunkedFile(stream);
  }

  /** Appends `len` bytes that `fill(buf, offset)` writes at `offset`. */
  append(len: number, fill: (buf: Buffer, offset: number) => void): void {
    if (this.closed) return;
    if (this.used + len > this.chunk.length) {
      this.flush();
      if (len > this.chunk.length) this.chunk = Buffer.allocUnsafe(len);
    }
    fill(this.chunk, this.used);
    this.used += len;
  }

  appendBuffer(b: Buffer): void {
    this.append(b.length, (buf, off) => {
      b.copy(buf, off);
    });
  }

  /** Hands the filled part of the chunk to the stream. */
  flush(): void {
    if (this.used === 0 || this.closed) return;
    this.stream.write(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafe(this.chunk.length);
    this.used = 0;
  }

  /** Flushes everything and closes the file; rejects with the first write error. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    this.closed = true;
    clearInterval(this.timer);
    await new Promise<void>((resolve) => this.stream.end(resolve));
    if (this.error) throw this.error;
  }
}
