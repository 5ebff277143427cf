/**
 * `<think>…</think>` splitting for models that put their reasoning inside the content (MiniMax M-series,
 * some vLLM/Ollama builds of reasoning models). Works on a stream of deltas: a tag split across two chunks
 * is still recognised, because a suffix that could begin a tag is held back until the next delta.
 */

const OPEN = '<think>';
const CLOSE = '</think>';

export interface ThinkPiece {
  kind: 'text' | 'reasoning';
  text: string;
}

/** Longest suffix of `s` that is a proper prefix of `tag`. */
function heldBack(s: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, s.length); n > 0; n--) {
    if (tag.startsWith(s.slice(s.length - n))) return n;
  }
  return 0;
}

export class ThinkSplitter {
  private pending = '';
  private inThink = false;

  push(delta: string): ThinkPiece[] {
    const out: ThinkPiece[] = [];
    let s = this.pending + delta;
    this.pending = '';
    for (;;) {
      const tag = this.inThink ? CLOSE : OPEN;
      const kind = this.inThink ? 'reasoning' : 'text';
      const idx = s.indexOf(tag);
      if (idx >= 0) {
        if (idx > 0) out.push({ kind, text: s.slice(0, idx) });
        s = s.slice(idx + tag.length);
        this.inThink = !this.inThink;
        continue;
      }
      const keep = heldBack(s, tag);
      const emit = s.slice(0, s.length - keep);
      if (emit) out.push({ kind, text: emit });
      this.pending = s.slice(s.length - keep);
      return out;
    }
  }

  flush(): ThinkPiece[] {
    const s = this.pending;
    this.pending = '';
    return s ? [{ kind: this.inThink ? 'reasoning' : 'text', text: s }] : [];
  }
}

/** Whole-text version: `{ text, reasoning }` with the tags removed and surrounding blank lines trimmed. */
export function splitThink(content: string): { text: string; reasoning: string } {
  const sp = new ThinkSplitter();
  let text = '';
  let reasoning = '';
  for (const p of [...sp.push(content), ...sp.flush()]) {
    if (p.kind === 'text') text += p.text;
    else reasoning += p.text;
  }
  return { text: reasoning ? text.replace(/^\s+/, '') : text, reasoning: reasoning.trim() };
}
