// A host application that publishes in a loop through the built SDK, handling every rejection,
// as publisher-sdk/test/host-survives.test.ts drives it. It installs no handler for uncaught
// exceptions or unhandled rejections: either ends it with a non-zero code and a stack on stderr.
// It writes "first-success" once a publish succeeds, closes the publisher on SIGUSR2 (and keeps
// publishing), and writes one JSON report when it is done.
import { createPublisher } from '@herald/publisher-sdk';

const plan = JSON.parse(process.env.HOST_PLAN ?? '{}');
const startedAt = Date.now();
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const reports = [];
const publisher = createPublisher({
  redisUrl: plan.redisUrl,
  onError: (error) => reports.push({ name: error.name, message: error.message, failures: error.failures }),
});

const report = { published: 0, firstSuccessAt: null, lastSuccessAt: null, closedAt: null, rejections: {}, onError: reports };

/** Rejections grouped by what they say (the key an unknown outcome names differs every time). */
function note(error, ms) {
  const message = String(error?.message).replace(/"auto:[^"]*"/, '"auto:…"');
  const key = `${error?.name} ${error?.code} ${message}`;
  const group = (report.rejections[key] ??= { name: error?.name, code: error?.code, message, count: 0, maxMs: 0 });
  group.count += 1;
  group.maxMs = Math.max(group.maxMs, ms);
}

async function loop(worker) {
  for (let n = 0; Date.now() - startedAt < plan.runMs; n++) {
    const started = Date.now();
    const options = plan.confirm && n % 2 === 0 ? { confirm: true, timeoutMs: 100 } : {};
    try {
      await publisher.agentThinking(`host-user-${worker}`, 'run-1', { n }, options);
      report.published += 1;
      report.lastSuccessAt = Date.now();
      if (report.firstSuccessAt === null) {
        report.firstSuccessAt = report.lastSuccessAt;
        process.stdout.write('first-success\n');
      }
      await sleep(5);
    } catch (error) {
      note(error, Date.now() - started);
      await sleep(20);
    }
  }
}

async function close() {
  if (report.closedAt !== null) return;
  report.closedAt = Date.now();
  await publisher.close();
}

const loops = Array.from({ length: 3 }, (_, worker) => loop(worker));
process.once('SIGUSR2', () => void close());
await Promise.all(loops);
await close();
process.stdout.write(`${JSON.stringify(report)}\n`);
// Nothing else: the process must now exit by itself, every connection closed and no timer left.
