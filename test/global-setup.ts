import { connect as netConnect } from 'node:net';
import { testEnv } from './env.ts';

/**
 * Fails the run at once, with what to do, when a service the integration tests need is not
 * listening, instead of letting every test time out on its own.
 */
export default async function globalSetup(): Promise<void> {
  const needed = [
    { name: 'PostgreSQL', url: testEnv.postgresUrl, env: 'AVIARY_TEST_PG_URL' },
    { name: 'NATS', url: testEnv.natsUrl, env: 'AVIARY_TEST_NATS_URL' },
  ];
  const missing: string[] = [];
  for (const service of needed) {
    const { hostname, port } = new URL(service.url);
    if (!(await listening(hostname, Number(port)))) {
      missing.push(`${service.name} is not listening at ${hostname}:${port} (${service.env})`);
    }
  }
  if (missing.length > 0) {
    throw new Error(
      `${missing.join('; ')}. Start the services (bash .ci/run installs and starts them) or point ` +
        'the variables at running ones.',
    );
  }
}

function listening(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}
