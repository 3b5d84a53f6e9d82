/**
 * Yields a web stream's chunks. A read error goes through `mapError`; a consumer that stops early
 * cancels the stream, so no download or decoder is left running.
 */
export async function* readChunks(stream: ReadableStream<Uint8Array>, mapError: (e: unknown) => Error): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  let done = false;
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        done = true;
        throw mapError(e);
      }
      if (r.done) {
        done = true;
        return;
      }
      if (r.value.length) yield r.value;
    }
  } finally {
    if (!done) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
