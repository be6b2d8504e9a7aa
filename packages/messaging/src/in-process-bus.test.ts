import { ValidationError } from '@aviary/core';
import { describe, expect, it } from 'vitest';
import { type BusMessage, InProcessBus } from './in-process-bus.ts';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('in-process bus', () => {
  it('delivers to matching subscribers in publish order, with NATS wildcards', async () => {
    const bus = new InProcessBus();
    const all: string[] = [];
    const one: string[] = [];
    bus.subscribe('aviary.v1.cluster.>', (m) => void all.push(m.subject));
    bus.subscribe('aviary.v1.cluster.*.cmd', (m) => void one.push(m.subject));
    await bus.publish('aviary.v1.cluster.eu-1.cmd', bytes('a'), { msgId: '1' });
    await bus.publish('aviary.v1.cluster.eu-1.obs.heartbeat', bytes('b'), { msgId: '2' });
    await bus.publish('aviary.v1.analysis.req', bytes('c'), { msgId: '3' });
    expect(all).toEqual(['aviary.v1.cluster.eu-1.cmd', 'aviary.v1.cluster.eu-1.obs.heartbeat']);
    expect(one).toEqual(['aviary.v1.cluster.eu-1.cmd']);
  });

  it('drops a re-publish of the same id within the window and answers like JetStream', async () => {
    let now = 0;
    const bus = new InProcessBus({ duplicateWindowMs: 1000, now: () => now });
    const got: BusMessage[] = [];
    bus.subscribe('s.>', (m) => void got.push(m));
    expect(
      await bus.publish('s.a', bytes('x'), { msgId: 'cmd-1', headers: { traceparent: 't' } }),
    ).toEqual({
      stream: 'in-process',
      seq: 1,
      duplicate: false,
    });
    expect(await bus.publish('s.a', bytes('x'), { msgId: 'cmd-1' })).toEqual({
      stream: 'in-process',
      seq: 1,
      duplicate: true,
    });
    now = 1500;
    expect(await bus.publish('s.a', bytes('x'), { msgId: 'cmd-1' })).toMatchObject({
      seq: 2,
      duplicate: false,
    });
    expect(got.map((m) => [m.seq, m.msgId, m.headers.traceparent])).toEqual([
      [1, 'cmd-1', 't'],
      [2, 'cmd-1', undefined],
    ]);
  });

  it('reports a failing handler without stopping delivery to the others', async () => {
    const errors: string[] = [];
    const bus = new InProcessBus({ onHandlerError: (e) => errors.push(String(e)) });
    const got: string[] = [];
    bus.subscribe('a', () => {
      throw new Error('boom');
    });
    const off = bus.subscribe('a', (m) => void got.push(m.msgId));
    await bus.publish('a', bytes(''), { msgId: 'x' });
    off();
    await bus.publish('a', bytes(''), { msgId: 'y' });
    expect(errors).toEqual(['Error: boom', 'Error: boom']);
    expect(got).toEqual(['x']);
  });

  it('rejects bad subjects, filters and ids', async () => {
    const bus = new InProcessBus();
    await expect(bus.publish('a.*', bytes(''), { msgId: 'x' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(bus.publish('a..b', bytes(''), { msgId: 'x' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    await expect(bus.publish('a', bytes(''), { msgId: '' })).rejects.toBeInstanceOf(
      ValidationError,
    );
    expect(() => bus.subscribe('a.>.b', () => {})).toThrow(ValidationError);
    expect(() => bus.subscribe('a.b*', () => {})).toThrow(ValidationError);
  });
});
