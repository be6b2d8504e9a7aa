/**
 * Writes a nats-server configuration with one user per cluster agent, plus the orchestrator and
 * the analyzer, each allowed only its own subjects (natsServerConfig in @aviary/messaging):
 *
 *   node scripts/nats-config.ts --clusters eu-1,eu-2,us-1 > infra/nats/nats-server.conf
 *   node scripts/nats-config.ts --clusters eu-1 --store-dir /var/lib/nats --no-http
 *   node scripts/nats-config.ts --clusters eu-1 --passwords   # the variables to set
 *
 * Passwords are not in the file: nats-server reads each from its environment variable
 * (`NATS_PASS_AGENT_EU_1`, `NATS_PASS_ORCHESTRATOR`, …) when it starts.
 */
import { parseArgs } from 'node:util';
import {
  messagingNamespace,
  natsServerConfig,
  natsUsers,
} from '../packages/messaging/src/index.ts';

const { values } = parseArgs({
  options: {
    clusters: { type: 'string' },
    namespace: { type: 'string', default: 'aviary' },
    'analyzer-consumer': { type: 'string', default: 'analyzer' },
    listen: { type: 'string', default: '0.0.0.0:4222' },
    http: { type: 'string', default: '0.0.0.0:8222' },
    'no-http': { type: 'boolean', default: false },
    'store-dir': { type: 'string', default: '/data' },
    'server-name': { type: 'string', default: 'aviary-nats' },
    passwords: { type: 'boolean', default: false },
  },
});

if (values.clusters === undefined) {
  console.error('usage: node scripts/nats-config.ts --clusters eu-1,eu-2[,…] [options]');
  process.exit(2);
}
const options = {
  clusters: values.clusters
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== ''),
  namespace: messagingNamespace(values.namespace),
  analyzerConsumer: values['analyzer-consumer'],
};
try {
  if (values.passwords) {
    for (const user of natsUsers(options)) {
      process.stdout.write(`${user.passwordVariable}\t${user.user}\n`);
    }
  } else {
    process.stdout.write(
      natsServerConfig({
        ...options,
        listen: values.listen,
        httpListen: values['no-http'] ? null : values.http,
        storeDir: values['store-dir'],
        serverName: values['server-name'],
      }),
    );
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exit(2);
}
