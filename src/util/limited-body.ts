/**
 * Reads a body stream whole, throwing `tooLarge()` (and reading no more of it) as soon as it
 * is over `maxBytes`: an oversized body is never buffered whole.
 */
export async function readLimitedBytes(body: ReadableStream<Uint8Array>, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  if (chunks.length === 1) {
    const only = chunks[0] as Uint8Array;
    return Buffer.from(only.buffer, only.byteOffset, total);
  }
  return Buffer.concat(chunks, total);
}
