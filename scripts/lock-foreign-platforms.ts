/**
 * Keeps `npm ci` working on machines whose registry mirror serves only this platform's binaries.
 *
 * Packages such as Biome and buf ship one optional dependency per platform. When the registry
 * cannot serve the other platforms' packages, `npm install` leaves them out of package-lock.json,
 * and `npm ci` then refuses the lock ("Missing: @biomejs/cli-darwin-arm64@ from lock file"). This
 * adds the missing entries with their version, platform (`os`, `cpu`, `libc`) and `optional`, so
 * that `npm ci` skips them on every other platform, as it would with a full lock.
 *
 * Run after changing dependencies: `npm run lock:platforms`. `--check` only reports (exit 1).
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  libc?: string[];
  optionalDependencies?: Record<string, string>;
}

const PLATFORM = /-(darwin|linux|win32|android|freebsd)-(arm64|x64|armv7|aarch64|ia32)(-musl)?$/;
const CPU: Record<string, string> = { aarch64: 'arm64', armv7: 'arm' };

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8')) as { packages: Record<string, LockEntry> };
const added: string[] = [];
const unknown: string[] = [];

for (const [where, entry] of Object.entries(lock.packages)) {
  for (const [name, range] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key]) continue;
    const match = PLATFORM.exec(name);
    if (!match?.[1] || !match[2]) {
      unknown.push(`${name} (optional dependency of ${where || 'the root'})`);
      continue;
    }
    const stub: LockEntry = {
      version: range.replace(/^[\^~=]/, ''),
      cpu: [CPU[match[2]] ?? match[2]],
      ...(entry.dev ? { dev: true } : {}),
      ...(match[3] ? { libc: ['musl'] } : match[1] === 'linux' ? { libc: ['glibc'] } : {}),
      optional: true,
      os: [match[1]],
    };
    lock.packages[key] = stub;
    added.push(name);
  }
}

if (unknown.length > 0) {
  console.error(`not a platform package, left alone: ${unknown.join(', ')}`);
}
if (process.argv.includes('--check')) {
  if (added.length > 0) {
    console.error(`package-lock.json lacks ${added.join(', ')}: run npm run lock:platforms`);
    process.exit(1);
  }
} else if (added.length > 0) {
  lock.packages = Object.fromEntries(
    Object.entries(lock.packages).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
  console.error(
    `package-lock.json: added ${added.length} foreign-platform entries (${added.join(', ')})`,
  );
}
