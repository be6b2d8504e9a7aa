import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { createKubeSim, type KubeSim } from './kube-sim.ts';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const run = promisify(execFile);

let sim: KubeSim | undefined;
let dir: string | undefined;
let watcher: ChildProcess | undefined;

afterEach(async () => {
  watcher?.kill();
  watcher = undefined;
  await sim?.close();
  sim = undefined;
  if (dir) await rm(dir, { recursive: true, force: true });
  dir = undefined;
});

const DEPLOYMENT = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: web:IMAGE
        ports: [{containerPort: 8080}]
        env: [{name: A, value: "1"}]
`;

const TRAFFIC_SPLIT = `
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: web}
spec:
  service: web
  backends:
  - {service: web-primary, weight: 100}
  - {service: web-canary, weight: 0}
`;

async function given() {
  sim = await createKubeSim({ clusters: ['eu-1'] });
  dir = await mkdtemp(join(tmpdir(), 'kube-sim-'));
  const kubeconfig = join(dir, 'config');
  await writeFile(kubeconfig, sim.kubeconfig());
  const workDir = dir;
  return {
    kubectl: async (...args: string[]) =>
      (await run(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { timeout: 10_000 })).stdout,
    manifest: async (name: string, text: string) => {
      const file = join(workDir, name);
      await writeFile(file, text);
      return file;
    },
    kubeconfig,
  };
}

describe('kube-sim with the real kubectl (.ci/run installs it; KUBECTL overrides the path)', () => {
  it('gets, applies (client- and server-side), patches and scales', async () => {
    const { kubectl, manifest } = await given();
    expect(await kubectl('get', 'namespaces', '-o', 'name')).toContain('namespace/default');

    const v1 = await manifest('v1.yaml', DEPLOYMENT.replace('IMAGE', '1'));
    expect(await kubectl('apply', '-f', v1)).toContain('deployment.apps/web created');
    const v2 = await manifest('v2.yaml', DEPLOYMENT.replace('IMAGE', '2'));
    expect(await kubectl('apply', '-f', v2)).toContain('deployment.apps/web configured');
    expect(
      await kubectl(
        'get',
        'deploy',
        'web',
        '-o',
        'jsonpath={.spec.template.spec.containers[0].image} {.metadata.generation}',
      ),
    ).toBe('web:2 2');

    await kubectl(
      'patch',
      'deployment',
      'web',
      '-p',
      '{"spec":{"template":{"spec":{"containers":[{"name":"web","env":[{"name":"B","value":"2"}]}]}}}}',
    );
    expect(
      await kubectl(
        'get',
        'deploy',
        'web',
        '-o',
        'jsonpath={.spec.template.spec.containers[0].env[*].name}',
      ),
    ).toBe('A B');
    await kubectl(
      'patch',
      'deploy',
      'web',
      '--type',
      'json',
      '-p',
      '[{"op":"add","path":"/metadata/labels/track","value":"stable"}]',
    );
    await kubectl(
      'patch',
      'deploy',
      'web',
      '--type',
      'merge',
      '-p',
      '{"metadata":{"annotations":{"a":"b"}}}',
    );
    expect(await kubectl('get', 'deploy', '-l', 'track=stable', '-o', 'name')).toBe(
      'deployment.apps/web\n',
    );

    expect(await kubectl('scale', 'deployment/web', '--replicas=5')).toContain('scaled');
    expect(await kubectl('get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas}')).toBe('5');

    const split = await manifest('split.yaml', TRAFFIC_SPLIT);
    expect(await kubectl('apply', '--server-side', '-f', split)).toContain('serverside-applied');
    await kubectl(
      'patch',
      'trafficsplit',
      'web',
      '--type',
      'json',
      '-p',
      '[{"op":"replace","path":"/spec/backends/0/weight","value":90},{"op":"replace","path":"/spec/backends/1/weight","value":10}]',
    );
    expect(await kubectl('get', 'ts', 'web', '-o', 'jsonpath={.spec.backends[*].weight}')).toBe(
      '90 10',
    );
    expect(await kubectl('api-resources', '--api-group', 'networking.istio.io', '-o', 'name')).toBe(
      'destinationrules.networking.istio.io\nvirtualservices.networking.istio.io\n',
    );
    await expect(kubectl('get', 'deploy', 'nope')).rejects.toThrow(
      /NotFound.*deployments.apps "nope" not found/,
    );
  });

  it('watches with get -w and sees a change', async () => {
    const { kubectl, manifest, kubeconfig } = await given();
    await kubectl('apply', '-f', await manifest('v1.yaml', DEPLOYMENT.replace('IMAGE', '1')));
    const child = spawn(KUBECTL, [
      '--kubeconfig',
      kubeconfig,
      'get',
      'deploy',
      'web',
      '-w',
      '-o',
      'jsonpath={.spec.replicas}{"\\n"}',
    ]);
    watcher = child;
    const lines: string[] = [];
    let buffered = '';
    const seen = (count: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`kubectl -w printed ${JSON.stringify(lines)}`)),
          8000,
        );
        const check = () => {
          if (lines.length >= count) {
            clearTimeout(timer);
            resolve();
          }
        };
        child.stdout.on('data', check);
        check();
      });
    child.stdout.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      lines.push(...parts);
    });
    await seen(1);
    await kubectl('scale', 'deploy', 'web', '--replicas=3');
    await seen(2);
    expect(lines.slice(0, 2)).toEqual(['2', '3']);
  });
});
