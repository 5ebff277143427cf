/**
 * With AOS_BENCH_PROFILE=<dir>, a CPU profile of this thread from now until the returned stop function
 * runs, written to `<dir>/<name>.cpuprofile` (open it in Chrome DevTools): where a measured run's CPU
 * goes, without its warm-up. Null when the variable is unset.
 */
import { join } from 'node:path';

export async function startCpuProfile(name: string): Promise<(() => Promise<void>) | null> {
  const dir = process.env.AOS_BENCH_PROFILE;
  if (!dir) return null;
  const { Session } = await import('node:inspector/promises');
  const { writeFileSync } = await import('node:fs');
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.start');
  return async () => {
    const { profile } = await s.post('Profiler.stop');
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    s.disconnect();
  };
}
