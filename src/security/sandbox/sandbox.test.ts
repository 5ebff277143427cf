import { BubblewrapSandbox } from './bubblewrap.js';
import { DockerSandbox } from './docker.js';
import { NoSandbox } from './none.js';
import { sandboxConformance } from './sandbox.case.js';

let bwrapSkip: string | undefined;
try {
  new BubblewrapSandbox();
} catch (err) {
  bwrapSkip = (err as Error).message;
}
const dockerSkip = DockerSandbox.unavailableReason();

sandboxConformance('bubblewrap', () => new BubblewrapSandbox(), bwrapSkip);
sandboxConformance('none', () => new NoSandbox({ quiet: true }));
sandboxConformance(
  'docker',
  () => new DockerSandbox(),
  dockerSkip ? `no Docker engine runs here: ${dockerSkip}` : undefined,
);
