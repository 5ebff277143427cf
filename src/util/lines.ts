/**
 * Line framing for a stream a child process writes its protocol to (`READY`, `STEP <pid> <n>`): each
 * complete '\n'-terminated line once, in order, however the bytes were chunked — a multi-byte character
 * split across two chunks included, which `chunk.toString()` per chunk would turn into U+FFFD.
 */
import { StringDecoder } from 'node:string_decoder';

/** Calls onLine with each complete line stream emits (without its '\n'); a trailing partial line waits for the rest. */
export function onLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  const decoder = new StringDecoder('utf8');
  let buf = '';
  stream.on('data', (chunk: Buffer | string) => {
    buf += typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let i = buf.indexOf('\n');
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      onLine(line);
      i = buf.indexOf('\n');
    }
  });
}
