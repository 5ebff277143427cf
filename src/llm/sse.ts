/**
 * The events of a streamed HTTP answer (server-sent events), a network read at a time.
 *
 * Why not the `openai` SDK's own iterator: it copies its whole buffer into a new Uint8Array for every
 * chunk and again for every event it cuts off (quadratic in the events of one read), and passes each event
 * through three async generators. A simulator answer of 85 chunks cost 2.29 ms of CPU that way and 1.44 ms
 * with this reader (same run, client and server on one thread) — on the gateway's stream path that is the
 * largest single cost after the database. The SDK still builds, sends and checks the request (auth,
 * headers, HTTP errors): only the reading of a 2xx event stream is ours, with `eventsource-parser` (the
 * WHATWG event-stream grammar) doing the parsing.
 */
import type { EventSourceMessage } from 'eventsource-parser';
import { LLM_SSE_MAX_EVENT_BYTES } from '../param.js';

export type { EventSourceMessage };

/**
 * Yields the complete events of each read (an event cut at the end of a read waits for the next one; an
 * unterminated event at the end of the stream is dropped, as the grammar says). An event larger than
 * LLM_SSE_MAX_EVENT_BYTES fails the stream instead of growing the buffer without bound.
 */
export async function* sseEvents(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<EventSourceMessage[], void, undefined> {
  // Loaded on the first stream, not with the kernel (importing the package root loads no dependency).
  const { createParser } = await import('eventsource-parser');
  let batch: EventSourceMessage[] = [];
  let failure: Error | null = null;
  const parser = createParser({
    onEvent: (ev) => batch.push(ev),
    onError: (err) => {
      if (err.type === 'max-buffer-size-exceeded')
        failure = new Error(
          `the provider sent an event-stream event over ${LLM_SSE_MAX_EVENT_BYTES} bytes; the stream is refused`,
        );
    },
    maxBufferSize: LLM_SSE_MAX_EVENT_BYTES,
  });
  const decoder = new TextDecoder();
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    if (failure) throw failure;
    if (batch.length) {
      const out = batch;
      batch = [];
      yield out;
    }
  }
  parser.feed(decoder.decode());
  if (failure) throw failure;
  if (batch.length) yield batch;
}
