/**
 * The simulator's `/v1/embeddings`: a CONCEPT LEXICON, not a model. A small built-in bilingual vocabulary
 * maps English and Chinese surface forms (with their inflections and synonyms) to concepts; a text's vector
 * is the sum of its concepts' fixed random directions, plus a lighter lexical hashing of the words no
 * concept covers, L2-normalised. So "Requirements user mentioned earlier", "what did the customer ask for
 * before" and "用户之前提到的需求" land close, as a real embedding model would place them — but only for the
 * words below; anything else is compared lexically. It exists so the semantic memory path (a configured
 * embedding endpoint → memory search, recall, prefetch) can be tested end to end over HTTP without a model.
 */

import { SIM_CONCEPT_RESIDUE_WEIGHT } from '../../param.js';
import { hashingEmbedding } from '../../util/embedder.js';
import { mulberry32 } from '../../util/random.js';

/** Concept → surface forms. English forms are lower case; a trailing s/es/ed/ing is also stripped on lookup. */
const LEXICON: ReadonlyArray<readonly [string, readonly string[]]> = [
  // the seeds' memory-search example and its paraphrases
  ['user', ['user', 'customer', 'client', 'requester', '用户', '客户', '使用者', '顾客']],
  [
    'earlier',
    [
      'earlier',
      'before',
      'previously',
      'prior',
      'previous',
      'past',
      'ago',
      'formerly',
      '之前',
      '以前',
      '先前',
      '此前',
      '早先',
      '过去',
      '刚才',
    ],
  ],
  [
    'mention',
    [
      'mention',
      'said',
      'say',
      'stated',
      'told',
      'tell',
      'raise',
      'brought',
      'note',
      '提到',
      '提及',
      '提过',
      '说过',
      '讲过',
      '谈到',
      '说',
    ],
  ],
  [
    'requirement',
    [
      'requirement',
      'need',
      'request',
      'want',
      'ask',
      'asked',
      'demand',
      'wish',
      '需求',
      '要求',
      '需要',
      '诉求',
      '想要',
    ],
  ],
  // the seeds' storage roles (长期记忆存储, 状态持久化, 向量索引, 协调服务, 审计日志)
  ['memory', ['memory', 'memories', 'remember', 'recall', 'recollection', '记忆', '回忆', '记住']],
  ['long-term', ['long', 'lasting', 'permanent', '长期', '永久']],
  [
    'storage',
    ['storage', 'store', 'save', 'persist', 'persistence', 'keep', '存储', '保存', '持久化', '储存'],
  ],
  ['conversation', ['conversation', 'dialogue', 'dialog', 'chat', 'talk', '对话', '会话', '聊天']],
  ['history', ['history', 'log', 'record', 'trail', '历史', '记录', '日志']],
  [
    'knowledge',
    ['knowledge', 'learned', 'learn', 'lesson', 'insight', 'fact', '知识', '学到', '经验', '教训'],
  ],
  ['state', ['state', 'status', 'condition', '状态']],
  ['checkpoint', ['checkpoint', 'snapshot', 'savepoint', 'backup', '检查点', '快照', '断点', '备份']],
  ['task', ['task', 'job', 'assignment', 'work', '任务', '作业', '工作']],
  ['vector', ['vector', 'embedding', 'pgvector', '向量', '嵌入']],
  ['index', ['index', 'indexes', 'indices', '索引']],
  ['search', ['search', 'retrieval', 'retrieve', 'lookup', 'find', 'query', '搜索', '检索', '查询', '查找']],
  ['semantic', ['semantic', 'meaning', 'sense', '语义', '含义', '意思']],
  ['coordination', ['coordination', 'coordinate', 'synchronization', 'sync', '协调', '同步']],
  ['lock', ['lock', 'mutex', 'lease', '锁', '互斥']],
  ['distributed', ['distributed', 'cluster', 'node', '分布式', '集群', '节点']],
  ['queue', ['queue', 'backlog', '队列']],
  ['audit', ['audit', 'compliance', '审计', '稽核']],
  ['immutable', ['immutable', 'tamper', 'unalterable', 'append', '不可篡改', '不可变', '防篡改']],
  ['operation', ['operation', 'action', 'activity', '操作', '动作']],
  // the seeds' process management and scheduler vocabulary
  ['process', ['process', '进程']],
  ['agent', ['agent', 'bot', 'assistant', '智能体', '代理', '助手']],
  ['schedule', ['schedule', 'scheduling', 'scheduler', 'dispatch', '调度', '排程']],
  ['priority', ['priority', 'importance', 'urgency', '优先级', '优先']],
  ['preempt', ['preempt', 'preemptive', 'interrupt', '抢占', '中断']],
  ['crash', ['crash', 'failure', 'fail', 'die', 'outage', 'broke', '崩溃', '故障', '宕机', '失败']],
  ['recover', ['recover', 'recovery', 'restore', 'resume', '恢复', '还原', '续跑']],
  ['communicate', ['communicate', 'communication', 'message', 'mail', 'ipc', '通信', '消息', '通讯']],
  [
    'terminate',
    ['terminate', 'termination', 'exit', 'stop', 'shutdown', 'kill', '终止', '退出', '停止', '关闭'],
  ],
  ['graceful', ['graceful', 'gracefully', 'safe', 'safely', 'clean', '优雅', '安全']],
  ['database', ['database', 'db', 'postgres', 'postgresql', 'sql', '数据库']],
  ['monitor', ['monitor', 'watch', 'observe', 'check', '监控', '监视', '观察']],
  ['health', ['health', 'healthy', 'wellness', '健康']],
  ['tool', ['tool', 'device', 'utility', '工具', '设备']],
  ['context', ['context', 'window', 'prompt', '上下文', '语境']],
  ['cost', ['cost', 'price', 'expense', 'spend', 'budget', '成本', '费用', '价格', '预算']],
  ['token', ['token', '令牌']],
  ['cache', ['cache', 'cached', '缓存']],
  ['security', ['security', 'sandbox', 'permission', 'policy', '安全性', '沙箱', '权限', '策略']],
  // everyday words agents' memories are full of
  ['report', ['report', 'summary', 'overview', '报告', '报表', '总结', '汇总']],
  ['export', ['export', 'download', 'output', '导出', '下载', '输出']],
  ['file', ['file', 'document', 'doc', '文件', '文档']],
  ['deadline', ['deadline', 'due', '截止', '期限', '最后期限']],
  ['meeting', ['meeting', '会议', '开会']],
  ['error', ['error', 'bug', 'defect', 'issue', 'problem', '错误', '缺陷', '问题', '漏洞']],
  [
    'fast',
    ['fast', 'quick', 'quickly', 'speed', 'latency', 'performance', '快', '快速', '速度', '延迟', '性能'],
  ],
  ['language', ['language', 'chinese', 'english', 'translation', '语言', '中文', '英文', '翻译']],
  ['like', ['like', 'prefer', 'preference', 'favourite', 'favorite', 'love', '喜欢', '偏好', '爱好', '喜爱']],
  ['email', ['email', 'e-mail', 'inbox', '邮件', '电子邮件', '邮箱']],
  ['password', ['password', 'credential', 'secret', '密码', '凭证', '密钥']],
  ['weather', ['weather', 'rain', 'sunny', 'temperature', '天气', '下雨', '晴天', '气温']],
  ['food', ['food', 'lunch', 'dinner', 'meal', 'restaurant', '食物', '午饭', '晚饭', '餐厅', '吃饭']],
];

/** Words that carry no concept in either language (skipped, not hashed). */
const STOP = new Set(
  'a an the of to for in on at by with and or is are was were be been being what which who whom whose did do does that this these those it its as from we i you he she they me my our your their has have had will would should can could about any all some there here then than so if not no into over also just 的 了 是 在 和 与 及 把 被 吗 呢 吧 啊 什么 哪些 我们 你们 他们 我 你 他 她 它 这 那 一个 有 过'.split(
    ' ',
  ),
);

const EN = new Map<string, string>();
const ZH = new Map<string, string>();
let zhMaxLen = 1;
for (const [concept, forms] of LEXICON) {
  for (const f of forms) {
    if (/^[\p{Script=Han}]+$/u.test(f)) {
      ZH.set(f, concept);
      zhMaxLen = Math.max(zhMaxLen, f.length);
    } else EN.set(f, concept);
  }
}
const STOP_ZH = [...STOP].filter((w) => /^[\p{Script=Han}]+$/u.test(w));

const directions = new Map<string, Float64Array>();

/** The concept's fixed direction: a seeded random unit vector (random directions in 256 dims are nearly orthogonal). */
function direction(concept: string, dim: number): Float64Array {
  const key = `${dim}:${concept}`;
  let v = directions.get(key);
  if (v) return v;
  let seed = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) seed = Math.imul(seed ^ key.charCodeAt(i), 0x01000193) >>> 0;
  const r = mulberry32(seed);
  v = new Float64Array(dim);
  let n = 0;
  for (let i = 0; i < dim; i++) {
    v[i] = r() + r() + r() - 1.5; // roughly Gaussian: every direction equally likely
    n += v[i]! * v[i]!;
  }
  for (let i = 0; i < dim; i++) v[i]! /= Math.sqrt(n);
  directions.set(key, v);
  return v;
}

function englishConcept(w: string): string | undefined {
  const hit = EN.get(w);
  if (hit) return hit;
  for (const suffix of ['ing', 'ed', 'es', 's']) {
    if (w.length > suffix.length + 2 && w.endsWith(suffix)) {
      const stem = w.slice(0, -suffix.length);
      const c = EN.get(stem) ?? EN.get(`${stem}e`);
      if (c) return c;
    }
  }
  return undefined;
}

/** Concepts of a text (with repeats) and the words no concept covers. */
export function concepts(text: string): { concepts: string[]; residue: string[] } {
  const found: string[] = [];
  const residue: string[] = [];
  for (const token of text.toLowerCase().match(/[\p{Script=Han}]+|[\p{L}\p{N}][\p{L}\p{N}'-]*/gu) ?? []) {
    if (!/\p{Script=Han}/u.test(token)) {
      if (STOP.has(token)) continue;
      const c = englishConcept(token);
      if (c) found.push(c);
      else residue.push(token);
      continue;
    }
    // Chinese has no spaces: longest match first, left to right; particles are skipped.
    let rest = '';
    for (let i = 0; i < token.length; ) {
      let matched = 0;
      for (let len = Math.min(zhMaxLen, token.length - i); len > 0; len--) {
        const piece = token.slice(i, i + len);
        const c = ZH.get(piece);
        if (c) {
          found.push(c);
          matched = len;
          break;
        }
        if (STOP_ZH.includes(piece)) {
          matched = len;
          break;
        }
      }
      if (matched) {
        if (rest) residue.push(rest);
        rest = '';
        i += matched;
      } else rest += token[i++];
    }
    if (rest) residue.push(rest);
  }
  return { concepts: found, residue };
}

/** The concept-lexicon embedding of one text: `dim` numbers, unit length. */
export function conceptEmbedding(text: string, dim: number): number[] {
  const { concepts: cs, residue } = concepts(text);
  const v = new Float64Array(dim);
  const tf = new Map<string, number>();
  for (const c of cs) tf.set(c, (tf.get(c) ?? 0) + 1);
  for (const [c, n] of tf) {
    const d = direction(c, dim);
    const w = 1 + Math.log(n);
    for (let i = 0; i < dim; i++) v[i]! += w * d[i]!;
  }
  if (residue.length) {
    const h = hashingEmbedding(residue.join(' '), dim);
    const w = SIM_CONCEPT_RESIDUE_WEIGHT * Math.sqrt(residue.length); // each uncovered word ≈ SIM_CONCEPT_RESIDUE_WEIGHT of a concept
    for (let i = 0; i < dim; i++) v[i]! += w * (h[i] ?? 0);
  }
  let n = 0;
  for (let i = 0; i < dim; i++) n += v[i]! * v[i]!;
  const inv = n > 0 ? 1 / Math.sqrt(n) : 0;
  return Array.from(v, (x) => x * inv);
}

/** How many concepts the lexicon knows (docs and `aos sim-llm` say so). */
export const LEXICON_SIZE = LEXICON.length;
