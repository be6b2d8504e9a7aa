/**
 * docker-compose.yml, checked without a Docker engine: Debian's `docker-compose config` must
 * accept it, and its resolved form must point at files that exist, set only variables each
 * service reads, and agree with itself (NATS users and passwords, one agent per simulated cluster,
 * Prometheus scraping each cluster and every Aviary service's metrics port, health checks, the
 * orchestrator's published port). `.ci/run` installs
 * docker-compose; without it this test fails rather than skips.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { natsServerConfig, natsUsers } from '@aviary/messaging';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { kubeSimOptions, REPO, type ServiceName, serviceVariables } from './service-config.ts';

const COMPOSE = process.env.AVIARY_TEST_DOCKER_COMPOSE ?? 'docker-compose';
const root = fileURLToPath(REPO);

interface ComposeService {
  image?: string;
  build?: { context: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}

interface PrometheusConfig {
  scrape_configs: {
    job_name: string;
    honor_labels?: boolean;
    static_configs: { targets: string[]; labels?: Record<string, string> }[];
  }[];
}

/** The Prometheus configuration the `prometheus` service mounts. */
function prometheusConfig(services: Record<string, ComposeService>): PrometheusConfig {
  const mounted = (services.prometheus?.volumes ?? []).find((v) =>
    v.endsWith(':/etc/prometheus/prometheus.yml:ro'),
  );
  return parse(readFileSync(mounted?.split(':')[0] as string, 'utf8')) as PrometheusConfig;
}

/** The Aviary services of the file (`node services/<service>/src/main.ts`), by compose name. */
function aviaryServices(services: Record<string, ComposeService>): Map<string, ServiceName> {
  const out = new Map<string, ServiceName>();
  for (const [name, service] of Object.entries(services)) {
    const main = /^services\/([a-z-]+)\/src\/main\.ts$/.exec(service.command?.[1] ?? '');
    if (main !== null) out.set(name, main[1] as ServiceName);
  }
  return out;
}

function compose(args: string[]): string {
  try {
    return execFileSync(COMPOSE, ['-f', 'docker-compose.yml', ...args], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, COMPOSE_PROJECT_NAME: 'aviary' },
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') {
      throw new Error(`${COMPOSE} is not installed: apt-get install docker-compose (.ci/run does)`);
    }
    throw new Error(`docker-compose ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

const resolved = (): Record<string, ComposeService> =>
  (parse(compose(['config'])) as { services: Record<string, ComposeService> }).services;

/** `--name=value` arguments of a command. */
function flags(command: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const arg of command.slice(2)) {
    const match = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    expect(match, `argument ${arg}`).not.toBeNull();
    out.set(match?.[1] as string, match?.[2] ?? '');
  }
  return out;
}

describe('docker-compose.yml', () => {
  it('is valid for docker-compose', () => {
    expect(compose(['config', '-q'])).toBe('');
  });

  it('runs PostgreSQL, NATS, Prometheus, the orchestrator, the analyzer and a simulated fleet', () => {
    const services = resolved();
    const simClusters = (flags(services['kube-sim']?.command ?? []).get('clusters') ?? '').split(
      ',',
    );
    expect(simClusters.length).toBeGreaterThan(1);
    expect(Object.keys(services).sort()).toEqual(
      [
        'postgres',
        'nats',
        'prometheus',
        'orchestrator',
        'analyzer',
        'kube-sim',
        ...simClusters.map((c) => `cluster-agent-${c}`),
      ].sort(),
    );
  });

  it('runs files that exist, with only the variables and options each service reads', () => {
    const services = resolved();
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] as string;
        if (source.startsWith('/')) expect(existsSync(source), `${name}: ${source}`).toBe(true);
      }
      if (service.image !== 'aviary:local') continue;
      expect(service.build?.context, name).toBe(root.replace(/\/$/, ''));
      const command = service.command ?? [];
      expect(command[0], name).toBe('node');
      expect(existsSync(new URL(command[1] as string, REPO)), `${name}: ${command[1]}`).toBe(true);
      if (name === 'kube-sim') {
        const known = kubeSimOptions();
        expect([...flags(command).keys()].filter((f) => !known.has(f))).toEqual([]);
        continue;
      }
      const main = /^services\/([a-z-]+)\/src\/main\.ts$/.exec(command[1] as string);
      expect(main, `${name} runs a service`).not.toBeNull();
      const reads = serviceVariables(main?.[1] as ServiceName);
      const set = Object.keys(service.environment ?? {});
      expect(
        set.filter((v) => !reads.has(v)),
        `${name}: variables it does not read`,
      ).toEqual([]);
    }
  });

  it('builds an image with every workspace linked and every source the commands run', () => {
    const dockerfile = readFileSync(new URL('Dockerfile', REPO), 'utf8');
    const copied = [...dockerfile.matchAll(/^COPY (\S+) /gm)].map((m) => m[1] as string);
    const root = JSON.parse(readFileSync(new URL('package.json', REPO), 'utf8')) as {
      workspaces: string[];
    };
    const workspaces = root.workspaces.flatMap((pattern) =>
      pattern.endsWith('/*')
        ? readdirSync(new URL(pattern.slice(0, -1), REPO))
            .map((name) => `${pattern.slice(0, -1)}${name}`)
            .filter((dir) => existsSync(new URL(`${dir}/package.json`, REPO)))
        : [pattern],
    );
    // Before `npm ci`: a workspace whose manifest is missing there is not linked in the image.
    const install = dockerfile.indexOf('RUN npm ci');
    for (const workspace of workspaces) {
      const line = `COPY ${workspace}/package.json `;
      expect(dockerfile.indexOf(line), `${workspace}/package.json`).toBeGreaterThan(-1);
      expect(dockerfile.indexOf(line)).toBeLessThan(install);
    }
    for (const [name, service] of Object.entries(resolved())) {
      if (service.image !== 'aviary:local') continue;
      const top = `${(service.command?.[1] ?? '').split('/')[0]}/`;
      expect(copied, `${name}: ${top} is in the image`).toContain(top);
    }
  });

  it('gives every service its own NATS user, from the generated per-cluster configuration', () => {
    const services = resolved();
    const nats = services.nats;
    const mounted = (nats?.volumes ?? []).find((v) => v.endsWith(':/etc/nats/aviary.conf:ro'));
    const conf = readFileSync(mounted?.split(':')[0] as string, 'utf8');
    const clusters = (flags(services['kube-sim']?.command ?? []).get('clusters') ?? '').split(',');
    // The file is exactly what the generator makes for the simulated clusters.
    expect(conf).toBe(natsServerConfig({ clusters }));
    const users = natsUsers({ clusters });
    const passwords = nats?.environment ?? {};
    expect(Object.keys(passwords).sort()).toEqual(users.map((u) => u.passwordVariable).sort());
    expect(new Set(Object.values(passwords)).size, 'one password per user').toBe(users.length);

    const connecting = Object.entries(services).filter(
      ([, s]) => s.environment?.AVIARY_NATS_URL !== undefined,
    );
    expect(connecting.map(([n]) => n).sort()).toEqual(
      ['orchestrator', 'analyzer', ...clusters.map((c) => `cluster-agent-${c}`)].sort(),
    );
    for (const [name, service] of connecting) {
      const env = service.environment ?? {};
      expect(env.AVIARY_NATS_URL, name).toBe('nats://nats:4222');
      const user = users.find((u) => u.user === env.AVIARY_NATS_USER);
      expect(user, `${name}: NATS user ${env.AVIARY_NATS_USER}`).toBeDefined();
      expect(env.AVIARY_NATS_PASS, `${name}: password of ${user?.user}`).toBe(
        passwords[user?.passwordVariable ?? ''],
      );
      if (user?.role === 'agent') {
        expect(name).toBe(`cluster-agent-${user.cluster}`);
        expect(env.AVIARY_CLUSTER_NAME).toBe(user.cluster);
        expect(env.AVIARY_KUBECONFIG).toBe(`/kube/${user.cluster}.yaml`);
      } else {
        expect(user?.role).toBe(name);
      }
    }
  });

  it('publishes the orchestrator’s API and lets Prometheus scrape every simulated cluster', () => {
    const services = resolved();
    const orchestrator = services.orchestrator?.environment ?? {};
    expect(orchestrator.AVIARY_HTTP_HOST).toBe('0.0.0.0');
    expect(orchestrator.AVIARY_API_TOKENS).toMatch(/^[^:,]+:admin:[^:,]+$/);
    expect(orchestrator.AVIARY_PG_URL).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
    expect(services.orchestrator?.ports).toContain(
      `127.0.0.1:${orchestrator.AVIARY_HTTP_PORT}:${orchestrator.AVIARY_HTTP_PORT}/tcp`,
    );

    const sim = flags(services['kube-sim']?.command ?? []);
    const clusters = (sim.get('clusters') ?? '').split(',');
    const basePort = Number(sim.get('base-port'));
    expect(sim.get('out')).toBe('/kube');
    const prometheus = prometheusConfig(services);
    const job = prometheus.scrape_configs.find((j) => j.job_name === 'kube-sim');
    expect(job?.static_configs).toEqual(
      clusters.map((cluster, i) => ({
        targets: [`${sim.get('advertise-host')}:${basePort + i}`],
        labels: { cluster },
      })),
    );
    const listen = (services.prometheus?.command ?? []).find((a) =>
      a.startsWith('--web.listen-address='),
    );
    const analyzer = services.analyzer?.environment ?? {};
    expect(new URL(analyzer.AVIARY_PROMETHEUS_URL ?? '').port).toBe(listen?.split(':').pop());
    expect(analyzer.AVIARY_PROMETHEUS_CLUSTER_LABEL).toBe('cluster');
  });

  it('has every Aviary service serve its metrics and a health check, and Prometheus scrape each', () => {
    const services = resolved();
    const aviary = aviaryServices(services);
    expect([...new Set(aviary.values())].sort()).toEqual([
      'analyzer',
      'cluster-agent',
      'orchestrator',
    ]);
    const prometheus = prometheusConfig(services);
    const scraped = new Map<string, string>();
    for (const job of prometheus.scrape_configs) {
      for (const target of job.static_configs.flatMap((c) => c.targets)) {
        scraped.set(target, job.job_name);
      }
    }
    for (const [name, service] of aviary) {
      const env = services[name]?.environment ?? {};
      const port = env.AVIARY_METRICS_PORT;
      expect(port, `${name}: AVIARY_METRICS_PORT`).toMatch(/^[1-9]\d*$/);
      // Scraped over the compose network, by the service's name, in a job of its service.
      expect(scraped.get(`${name}:${port}`), `${name}:${port} scraped`).toBe(`aviary-${service}`);
      expect(env.AVIARY_METRICS_HOST, `${name}: listens on every interface`).toBeUndefined();
      // Health: the orchestrator's API /healthz, the others' metrics listener /healthz.
      const probe = (services[name]?.healthcheck?.test ?? []).join(' ');
      const healthPort = service === 'orchestrator' ? env.AVIARY_HTTP_PORT : port;
      expect(probe, `${name}: health check`).toContain(`http://127.0.0.1:${healthPort}/healthz`);
    }
    // Nothing scraped that does not exist: each target is a service of the file.
    for (const target of scraped.keys()) {
      const host = target.split(':')[0] as string;
      if (host === 'localhost') continue;
      expect(services[host], `scrape target ${target}`).toBeDefined();
    }
    // The agents' jobs label each target with its cluster, as their own series are.
    const agents = prometheus.scrape_configs.find((j) => j.job_name === 'aviary-cluster-agent');
    expect(agents?.honor_labels).toBe(true);
    for (const config of agents?.static_configs ?? []) {
      const host = config.targets[0]?.split(':')[0] ?? '';
      expect(services[host]?.environment?.AVIARY_CLUSTER_NAME).toBe(config.labels?.cluster);
    }
  });
});
