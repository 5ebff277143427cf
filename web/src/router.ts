// A hash router in a dozen lines: #/ (processes), #/proc/7, #/scheduler … — no dependency needed.
import { reactive } from 'vue';

export const route = reactive({ name: 'processes', param: '' });

function parse(): void {
  const [name, param] = location.hash.replace(/^#\/?/, '').split('/');
  route.name = name || 'processes';
  route.param = param ?? '';
}

window.addEventListener('hashchange', parse);
parse();

export function go(path: string): void {
  location.hash = `#/${path}`;
}
