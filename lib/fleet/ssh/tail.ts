// Bounded output: a command may print megabytes, the dashboard keeps only what ends the stream.

/** The last `max` characters of `text`. */
export function tailText(text: string, max: number): string {
  return text.length <= max ? text : text.slice(text.length - max);
}

/** Keeps the last `max` bytes of a stream. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;
  constructor(private readonly max: number) {}

  push(chunk: Buffer) {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const excess = this.size - this.max;
      this.truncated = true;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  text(): string {
    let buf = Buffer.concat(this.chunks);
    // A cut can land inside a UTF-8 sequence; drop its orphaned continuation bytes.
    if (this.truncated) {
      let i = 0;
      while (i < buf.length && i < 3 && (buf[i]! & 0xc0) === 0x80) i++;
      buf = buf.subarray(i);
    }
    return buf.toString("utf8");
  }
}
