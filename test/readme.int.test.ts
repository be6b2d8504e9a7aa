/**
 * The README's quick start, on a fresh clone: `git clone` of this repository into a temporary
 * directory, then the README's first command as written (`npm ci && npm start`) in a shell, in its
 * own process group as a terminal runs it. The demo's own output (the pretty lines a newcomer
 * reads) must show a release promoted across the fleet and a faulty one stopped in the first
 * wave; Ctrl-C (SIGINT to the process group) must end it cleanly. The second command, `npm test`,
 * is not run here (it is the whole suite): the test checks it is the command CI runs (`.ci/run`).
 *
 * `npm ci` on a fresh clone downloads and installs every dependency, minutes on this machine, so
 * by default the clone gets a `node_modules` built from this repository's instead and the shell
 * runs `npm start` alone: every third-party package is a symlink into the repository's
 * `node_modules`, and the workspace links (`node_modules/@aviary/*`) point into the clone, so the
 * clone's own code is what runs. `AVIARY_README_TEST_NPM_CI=1` runs the real `npm ci` first.
 *
 * The clone is of HEAD (what the README promises is what is committed). Before a commit,
 * `AVIARY_README_TEST_WORKING_TREE=1` copies the working tree's modified and untracked files over
 * the clone, to try uncommitted work.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('..', import.meta.url));
const QUICK_START = 'npm ci && npm start';
const realNpmCi = process.env.AVIARY_README_TEST_NPM_CI === '1';
const overlay = process.env.AVIARY_README_TEST_WORKING_TREE === '1';

let dir: string;
let clone: string;

/** `node_modules` for the clone: third-party packages from the repository, workspaces its own. */
async function linkNodeModules(): Promise<void> {
  const from = join(REPO, 'node_modules');
  const to = join(clone, 'node_modules');
  await mkdir(join(to, '@aviary'), { recursive: true });
  for (const entry of await readdir(from)) {
    if (entry === '@aviary') continue;
    await symlink(join(from, entry), join(to, entry));
  }
  const lock = JSON.parse(await readFile(join(clone, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { link?: boolean; resolved?: string }>;
  };
  for (const [path, entry] of Object.entries(lock.packages)) {
    if (!path.startsWith('node_modules/@aviary/') || entry.link !== true || !entry.resolved) {
      continue;
    }
    await symlink(join(clone, entry.resolved), join(clone, path));
  }
}

/** Copies the working tree's modified and untracked (not ignored) files over the clone. */
async function overlayWorkingTree(): Promise<void> {
  const { stdout } = await run('git', ['-C', REPO, 'ls-files', '-m', '-o', '--exclude-standard'], {
    maxBuffer: 16 * 1024 * 1024,
  });
  for (const path of stdout.split('\n').filter((p) => p !== '')) {
    await mkdir(dirname(join(clone, path)), { recursive: true });
    await cp(join(REPO, path), join(clone, path), { force: true }).catch((error: unknown) => {
      // A file deleted in the working tree is listed as modified: nothing to copy.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    });
  }
}

/** The environment of a newcomer's shell: none of this machine's AVIARY_* settings. */
function newcomerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('AVIARY_') && !key.startsWith('npm_') && !key.startsWith('VITEST')) {
      env[key] = value;
    }
  }
  // Any free port: 8080 may be taken on a shared machine.
  return { ...env, AVIARY_HTTP_PORT: '0', FORCE_COLOR: '0', NODE_OPTIONS: '' };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'aviary-readme-'));
  clone = join(dir, 'aviary');
  await run('git', ['clone', '--quiet', REPO, clone]);
  if (overlay) await overlayWorkingTree();
  if (!realNpmCi) await linkNodeModules();
}, 120_000);

afterAll(async () => {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('the README quick start, on a fresh clone', () => {
  it('says to run `npm ci && npm start`, and `npm test`, which is what CI runs', async () => {
    const readme = await readFile(join(clone, 'README.md'), 'utf8');
    const block = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    const commands = block.split('\n').map((line) => line.replace(/\s+#.*$/, '').trim());
    expect(commands).toContain(QUICK_START);
    expect(commands).toContain('npm test');
    const ci = await readFile(join(clone, '.ci/run'), 'utf8');
    expect(ci).toMatch(/^\s*npm test\b/m);
    const pkg = JSON.parse(await readFile(join(clone, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(pkg.scripts.start).toBe('node services/orchestrator/src/dev.ts');
    expect(pkg.scripts.test).toContain('vitest run');
  });

  it('`npm ci && npm start` plays the demo: a release promoted across the fleet, a faulty one stopped in the first wave; Ctrl-C stops it cleanly', {
    timeout: 600_000,
  }, async () => {
    const command = realNpmCi ? QUICK_START : 'npm start';
    const child: ChildProcess = spawn('sh', ['-c', command], {
      cwd: clone,
      env: newcomerEnv(),
      detached: true, // its own process group, as a terminal's foreground job
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    /** Ctrl-C: SIGINT to the whole foreground process group (sh, npm, node). */
    const signalGroup = (signal: NodeJS.Signals | 0): boolean => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
        return true;
      } catch {
        return false; // the group is gone
      }
    };
    try {
      await expect
        .poll(() => /demo finished in/.test(stdout) || child.exitCode !== null, {
          timeout: 540_000,
          interval: 500,
        })
        .toBe(true);
      expect(child.exitCode, `exited early:\n${stdout}\n${stderr}`).toBeNull();

      // What a newcomer reads: the token, the dashboard, the timeline and the summary.
      expect(stdout).toMatch(/export AVIARY_TOKEN=[\w-]{16,}/);
      expect(stdout).toMatch(/the dashboard: +http:\/\/127\.0\.0\.1:\d+\//);
      expect(stdout).toContain('npx aviary get releases');
      expect(stdout).toMatch(/demo\.podinfo\.2 {2}eu-1: promoted v2/);
      expect(stdout).toMatch(/demo\.podinfo\.2 {2}us-2: promoted v2/);
      expect(stdout).toMatch(/demo\.podinfo\.2 {2}release succeeded/);
      expect(stdout).toMatch(/demo\.podinfo\.3 {2}eu-1: check request-success-rate failed/);
      expect(stdout).toMatch(/demo\.podinfo\.3 {2}eu-1: rolled back v3/);
      expect(stdout).toMatch(/demo\.podinfo\.3 {2}fleet halted in wave canary/);
      expect(stdout).toMatch(/demo\.podinfo\.3 {2}release failed/);
      expect(stdout).not.toMatch(/demo\.podinfo\.3 {2}(eu-2|us-1|us-2): weight/);
      const summary = stdout.slice(stdout.indexOf('demo finished in'));
      expect(summary).toMatch(/demo\.podinfo\.2 {2}v2 {2}succeeded/);
      expect(summary).toMatch(/demo\.podinfo\.3 {2}v3 {2}failed/);
      expect(summary).toContain(
        "the clusters' primaries now run: eu-1 v2, eu-2 v2, us-1 v2, us-2 v2",
      );

      signalGroup('SIGINT');
      const [code, signal] = await exited;
      // Aviary itself stops cleanly: every part stopped, exit code 0. The shell and npm report
      // the interrupt as a terminal shows it (npm exits with the signal, or 130).
      expect(stdout, stderr).toMatch(/stopped \{"exitCode":0/);
      expect([
        { code: 0, signal: null },
        { code: null, signal: 'SIGINT' },
        { code: 130, signal: null },
      ]).toContainEqual({ code, signal });
      // Nothing of the group is left running.
      await expect.poll(() => signalGroup(0), { timeout: 10_000 }).toBe(false);
    } finally {
      if (signalGroup('SIGINT')) {
        setTimeout(() => signalGroup('SIGKILL'), 10_000).unref();
      }
    }
  });
});
