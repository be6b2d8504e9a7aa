import { describe, expect, it } from 'vitest';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch, PatchError } from './patch.ts';

describe('JSON patch (RFC 6902)', () => {
  const doc = { a: { b: [1, 2, 3] }, 'x/y': 1, 't~': 2 };

  it('applies add, remove, replace, move, copy and test', () => {
    expect(
      applyJsonPatch(doc, [
        { op: 'test', path: '/a/b/0', value: 1 },
        { op: 'add', path: '/a/b/-', value: 4 },
        { op: 'add', path: '/a/b/0', value: 0 },
        { op: 'remove', path: '/a/b/1' },
        { op: 'replace', path: '/x~1y', value: 'slash' },
        { op: 'move', from: '/t~0', path: '/moved' },
        { op: 'copy', from: '/a', path: '/c' },
      ]),
    ).toEqual({ a: { b: [0, 2, 3, 4] }, 'x/y': 'slash', moved: 2, c: { b: [0, 2, 3, 4] } });
    expect(doc).toEqual({ a: { b: [1, 2, 3] }, 'x/y': 1, 't~': 2 });
  });

  it('fails a failed test or a missing path as a conflict, a bad document as malformed', () => {
    const kind = (patch: unknown) => {
      try {
        applyJsonPatch(doc, patch as never);
      } catch (error) {
        return (error as PatchError).kind;
      }
      return 'applied';
    };
    expect(kind([{ op: 'test', path: '/a/b/0', value: 9 }])).toBe('conflict');
    expect(kind([{ op: 'replace', path: '/nope', value: 1 }])).toBe('conflict');
    expect(kind([{ op: 'remove', path: '/a/b/7' }])).toBe('conflict');
    expect(kind({ op: 'add' })).toBe('malformed');
    expect(kind([{ op: 'frobnicate', path: '/a' }])).toBe('malformed');
  });
});

describe('JSON merge patch (RFC 7386)', () => {
  it('merges objects, deletes nulls and replaces arrays', () => {
    expect(
      applyMergePatch(
        { a: 'b', c: { d: 'e', f: 'g' }, list: [1, 2] },
        { a: 'z', c: { f: null }, list: [3] },
      ),
    ).toEqual({ a: 'z', c: { d: 'e' }, list: [3] });
    expect(applyMergePatch({ a: 1 }, 'text')).toBe('text');
  });
});

describe('strategic merge patch', () => {
  const pod = {
    spec: {
      containers: [
        {
          name: 'app',
          image: 'app:1',
          env: [{ name: 'A', value: '1' }],
          ports: [{ containerPort: 80 }],
        },
        { name: 'proxy', image: 'proxy:1' },
      ],
      tolerations: [{ key: 'a' }],
    },
    metadata: { finalizers: ['x'] },
  };

  it('merges keyed lists by their merge key and replaces atomic lists', () => {
    const result = applyStrategicMergePatch(pod, {
      spec: {
        containers: [
          {
            name: 'app',
            image: 'app:2',
            env: [{ name: 'B', value: '2' }],
            ports: [{ containerPort: 81 }],
          },
        ],
        tolerations: [{ key: 'b' }],
      },
      metadata: { finalizers: ['y'] },
    });
    expect(result).toEqual({
      spec: {
        containers: [
          {
            name: 'app',
            image: 'app:2',
            env: [
              { name: 'A', value: '1' },
              { name: 'B', value: '2' },
            ],
            ports: [{ containerPort: 80 }, { containerPort: 81 }],
          },
          { name: 'proxy', image: 'proxy:1' },
        ],
        tolerations: [{ key: 'b' }],
      },
      metadata: { finalizers: ['x', 'y'] },
    });
  });

  it('honours $patch delete and replace, and $setElementOrder directives are dropped', () => {
    const result = applyStrategicMergePatch(pod, {
      spec: {
        $setElementOrder_ignored: [],
        containers: [{ name: 'proxy', $patch: 'delete' }],
      },
      metadata: { $patch: 'replace', labels: { a: 'b' } },
    });
    expect(result).toEqual({
      spec: { containers: [pod.spec.containers[0]], tolerations: [{ key: 'a' }] },
      metadata: { labels: { a: 'b' } },
    });
  });

  it('merges Service ports by port', () => {
    expect(
      applyStrategicMergePatch(
        { spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] } },
        { spec: { ports: [{ port: 80, targetPort: 9090 }, { port: 443 }] } },
      ),
    ).toEqual({ spec: { ports: [{ name: 'http', port: 80, targetPort: 9090 }, { port: 443 }] } });
  });

  it('rejects a non-object patch', () => {
    expect(() => applyStrategicMergePatch(pod, [])).toThrow(PatchError);
  });
});
