/**
 * What the simulator knows without tools, kept small and said plainly: a few kernel and OS terms it can
 * explain from a built-in glossary (the dashboard's sample "summarise what a scheduler does"), the answer
 * to a listing task (how many entries), and the honest reply when a task is beyond its rules — it is rules,
 * not a language model, and its answers say which rule produced them.
 */

/** A task that asks about the files of the workspace (or a directory) without naming a path. */
export const LIST_TASK =
  /\b(list|show|what|which|how many|count)\b[^.?!]*\b(files?|entries|directories|folders?|workspace)\b/i;

const GLOSSARY: Array<{ term: RegExp; name: string; text: string }> = [
  {
    term: /\bschedul(er|ing)\b/i,
    name: 'scheduler',
    text:
      'An operating system scheduler decides which ready process runs next on each CPU, and for how long, ' +
      'using priorities and fairness so every process makes progress. It preempts a running process when its ' +
      'time slice ends or a more urgent one becomes ready, and keeps waiting processes off the CPU until what ' +
      'they wait for arrives.',
  },
  {
    term: /\b(virtual memory|paging|page (table|fault))\b/i,
    name: 'virtual memory',
    text:
      'Virtual memory gives each process its own address space, mapped page by page onto physical memory. ' +
      'Pages not in use can be swapped out to disk, and touching one raises a page fault that brings it back.',
  },
  {
    term: /\bcontext window\b/i,
    name: 'context window',
    text:
      "A model's context window is the number of tokens it can read in one call: the prompt and the " +
      'conversation so far. In this kernel it is managed like RAM, with pages evicted to storage and recalled.',
  },
  {
    term: /\bprocess(es)?\b.*\b(what|explain|summari[sz]e|describe)\b|\b(what|explain|summari[sz]e|describe)\b.*\bprocess(es)?\b/i,
    name: 'process',
    text:
      'A process is a running program with its own state: an id, a priority, what it waits on and the ' +
      'resources it holds. The kernel creates, schedules, suspends and ends processes.',
  },
];

const EXPLAIN = /\b(summari[sz]e|explain|describe|what (is|are|does|do)|define|tell me about)\b/i;

/** A glossary answer when the task asks to explain a term the simulator knows, else null. */
export function glossaryAnswer(task: string): string | null {
  if (!EXPLAIN.test(task)) return null;
  const hit = GLOSSARY.find((g) => g.term.test(task));
  if (!hit) return null;
  return `(simulated, from the simulator's built-in glossary: ${hit.name}) ${hit.text}`;
}

/** The answer to a listing task from a list_dir-like result: how many entries, and which. */
export function listingAnswer(listing: string, path: string): string {
  const entries = listing
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && l !== '(empty directory)' && !l.startsWith('[stopped at'));
  const where = path === '.' || path === '' ? 'The workspace' : path;
  if (entries.length === 0) return `(simulated) ${where} is empty: there are 0 entries.`;
  const files = entries.filter((e) => !e.endsWith('/')).length;
  const dirs = entries.length - files;
  const what = [
    `${files} file${files === 1 ? '' : 's'}`,
    ...(dirs ? [`${dirs} director${dirs === 1 ? 'y' : 'ies'}`] : []),
  ];
  return `(simulated) ${where} has ${entries.length} entr${entries.length === 1 ? 'y' : 'ies'} (${what.join(', ')}): ${entries.slice(0, 50).join(', ')}${entries.length > 50 ? ', …' : ''}`;
}

/** What the simulator says when no rule applies: plainly that the task is beyond it, and what would help. */
export function beyondRules(task: string, toolNames: readonly string[]): string {
  const tools = toolNames.filter((n) => n !== 'final_answer');
  return (
    `(simulated) This task is beyond the simulator's rules, so I cannot answer it: "${task.slice(0, 160)}${task.length > 160 ? '…' : ''}". ` +
    'The simulator is not a language model; it does arithmetic with a calculator tool, reads or lists paths ' +
    'the task names, runs `backticked` commands with a shell tool, calls a tool the task names, and explains a ' +
    `few kernel terms.${tools.length ? ` Tools offered: ${tools.slice(0, 12).join(', ')}${tools.length > 12 ? ', …' : ''}.` : ' No tools were offered.'} ` +
    'Configure a real model (`aos models` lists them; set a provider key) for an actual answer.'
  );
}
