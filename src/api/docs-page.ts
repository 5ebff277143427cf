/**
 * GET /docs: the OpenAPI document as a page, with a try-it form per operation — path and query parameters,
 * a JSON body prefilled from the schema's required fields, a token field (the dashboard's, from this
 * origin's localStorage) — that sends the request from the browser and shows status and answer.
 * Self-contained: no CDN, no bundle; it reads /docs/openapi.json from this server.
 */
export function docsPage(): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>agent-os-kernel API</title>
<style>
body{font:14px/1.5 system-ui,sans-serif;max-width:68rem;margin:2rem auto;padding:0 1rem;color:#1f2937}
code,pre{background:#f4f4f5;padding:.1rem .3rem;border-radius:4px}pre{padding:.5rem;overflow:auto;max-height:24rem;white-space:pre-wrap;word-break:break-word}
h2{margin-top:2rem;border-bottom:1px solid #e5e7eb;text-transform:capitalize}.m{display:inline-block;min-width:4.2rem;font-weight:bold}
details.op{border:1px solid #e5e7eb;border-radius:6px;margin:.4rem 0;padding:.3rem .6rem}details.op>summary{cursor:pointer}
.role{color:#6b7280;font-size:12px;margin-left:.5rem}label{display:block;font-size:12px;color:#6b7280;margin:.3rem 0}
input,textarea{font:13px ui-monospace,monospace;width:100%;box-sizing:border-box;padding:4px 6px;border:1px solid #d1d5db;border-radius:4px}
button{margin:.4rem 0;padding:4px 12px}.st{font-weight:bold}.ok{color:#166534}.bad{color:#991b1b}
.bar{position:sticky;top:0;background:#fff;padding:.5rem 0;border-bottom:1px solid #e5e7eb}
</style></head>
<body><h1>agent-os-kernel API</h1>
<p>The OpenAPI 3.1 document: <a href="/docs/openapi.json">/docs/openapi.json</a> (load it into any OpenAPI viewer). Open an operation to see its parameters and schemas and to try it. <a href="/">Dashboard</a></p>
<div class="bar"><label>Bearer token (viewer, operator or admin; the dashboard's sign-in fills it) <input id="token" type="password" autocomplete="off" placeholder="aos_…"></label></div>
<div id="r">loading…</div>
<script>
const $ = (t, a = {}, ...kids) => { const e = document.createElement(t); for (const [k, v] of Object.entries(a)) e.setAttribute(k, v); for (const c of kids) e.append(c); return e; };
const tok = document.getElementById('token');
tok.value = localStorage.getItem('aos.token') || '';
tok.addEventListener('change', () => localStorage.setItem('aos.token', tok.value.trim()));
function skeleton(s) {
  if (!s || typeof s !== 'object') return null;
  if (s.default !== undefined) return s.default;
  if (s.type === 'object' || s.properties) { const o = {}; for (const k of s.required || []) o[k] = skeleton(s.properties?.[k]); return o; }
  if (s.type === 'array') return [];
  if (s.enum) return s.enum[0];
  return { string: '', integer: 0, number: 0, boolean: false }[Array.isArray(s.type) ? s.type[0] : s.type] ?? null;
}
function op(path, method, o) {
  const id = method + ' ' + path;
  const d = $('details', { class: 'op', 'data-op': id });
  const sum = $('summary', {}, $('span', { class: 'm' }, method.toUpperCase()), $('code', {}, path), ' ' + (o.summary || ''), $('span', { class: 'role' }, 'role: ' + (o['x-required-role'] || 'public')));
  d.append(sum);
  if (o.description) d.append($('p', {}, o.description));
  const form = $('form');
  const inputs = [];
  for (const p of o.parameters || []) {
    const inp = $('input', { name: p.name, 'data-in': p.in, placeholder: p.schema?.default !== undefined ? String(p.schema.default) : '' });
    inputs.push(inp);
    form.append($('label', {}, p.name + ' (' + p.in + (p.required ? ', required' : '') + ') ', inp));
  }
  const schema = o.requestBody?.content?.['application/json']?.schema;
  let body = null;
  if (schema) {
    body = $('textarea', { name: 'body', rows: '5' });
    body.value = JSON.stringify(skeleton(schema), null, 2);
    form.append($('label', {}, 'JSON body ', body), $('details', {}, $('summary', {}, 'body schema'), $('pre', {}, JSON.stringify(schema, null, 2))));
  }
  const ok = Object.entries(o.responses || {})[0];
  const rs = ok?.[1]?.content?.['application/json']?.schema;
  if (rs) form.append($('details', {}, $('summary', {}, 'response ' + ok[0] + ' schema'), $('pre', {}, JSON.stringify(rs, null, 2))));
  const status = $('div', { class: 'st', 'data-testid': 'status' });
  const out = $('pre', { 'data-testid': 'response', hidden: '' });
  form.append($('button', { type: 'submit' }, 'Send'), status, out);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    let url = path; const qs = new URLSearchParams();
    for (const i of inputs) {
      if (!i.value) continue;
      if (i.dataset.in === 'path') url = url.replace('{' + i.name + '}', encodeURIComponent(i.value));
      else if (i.dataset.in === 'query') qs.set(i.name, i.value);
    }
    if (/{[^}]+}/.test(url)) { status.textContent = 'fill in the path parameters'; status.className = 'st bad'; return; }
    const headers = {}; if (tok.value.trim()) headers.authorization = 'Bearer ' + tok.value.trim();
    const init = { method: method.toUpperCase(), headers };
    if (body && method !== 'get') { headers['content-type'] = 'application/json'; init.body = body.value; }
    const t0 = performance.now();
    try {
      const res = await fetch(url + (qs.size ? '?' + qs : ''), init);
      const text = await res.text();
      status.textContent = res.status + ' ' + res.statusText + ' · ' + Math.round(performance.now() - t0) + ' ms';
      status.className = 'st ' + (res.ok ? 'ok' : 'bad');
      let shown = text; try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch {}
      out.textContent = shown; out.hidden = false;
    } catch (err) { status.textContent = String(err); status.className = 'st bad'; }
  });
  d.append(form);
  return d;
}
fetch('/docs/openapi.json').then((r) => r.json()).then((doc) => {
  const root = document.getElementById('r'); root.textContent = '';
  const byTag = new Map();
  for (const [p, ops] of Object.entries(doc.paths)) for (const [m, o] of Object.entries(ops)) {
    const t = (o.tags || ['other'])[0]; if (!byTag.has(t)) byTag.set(t, []); byTag.get(t).push(op(p, m, o));
  }
  for (const [t, list] of byTag) root.append($('h2', {}, t), ...list);
});
</script></body></html>`;
}
