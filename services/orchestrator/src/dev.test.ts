import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type LogLine, spawnService } from '@aviary/platform/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const dev = fileURLToPath(new URL('./dev.ts', import.meta.url));
const byMsg = (start: string) => (line: LogLine) =>
  typeof line.msg === 'string' && line.msg.startsWith(start);

describe('npm start (aviary dev)', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'aviary-dev-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('starts on embedded defaults with nothing else running, says what is up, and stops on Ctrl-C; twice on the same data', async () => {
    for (let run = 0; run < 2; run++) {
      const aviary = spawnService(dev, {
        env: {
          AVIARY_DATA_DIR: join(dataDir, 'log'),
          AVIARY_LOG_PRETTY: 'false',
          AVIARY_PG_URL: '',
          AVIARY_NATS_URL: '',
        },
      });
      const up = await aviary.waitForLine(byMsg('Aviary dev is up'), 60_000);
      expect(up).toMatchObject({
        bus: 'in-process bus',
        eventLog: `pglite ${join(dataDir, 'log')}`,
      });
      expect(await aviary.stop('SIGINT')).toEqual({ code: 0 });
    }
  });
});
