import { BatchedCall, CallBatcher } from './call-batcher';

/** An executor that records each batch (as each operation's id) and answers each operation with its id. */
function recorder(fail?: (batch: unknown[][]) => unknown) {
  const batches: unknown[][][] = [];
  let running = 0;
  let maxRunning = 0;
  const execute = async (operations: Record<string, unknown>[]) => {
    const batch = operations.map((op) => [op.id]);
    batches.push(batch);
    running++;
    maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, 5));
    running--;
    const err = fail?.(batch);
    if (err) throw err;
    return batch.map((args) => `batch:${String(args[0])}`);
  };
  return { execute, batches, maxRunning: () => maxRunning };
}

const call = (key: string, id: string, alone = () => Promise.resolve(`alone:${id}`)): BatchedCall<string> => ({ key, operation: { id }, alone });

describe('CallBatcher', () => {
  it('sends an operation that arrives alone as its own call', async () => {
    const rec = recorder();
    const b = new CallBatcher(rec.execute);
    await expect(b.run(call('a', '1'))).resolves.toBe('alone:1');
    expect(rec.batches).toHaveLength(0);
  });

  it('groups operations of one event-loop turn into one batch, ordered by lock, stable within a lock', async () => {
    const rec = recorder();
    const b = new CallBatcher(rec.execute);
    const answers = await Promise.all([b.run(call('c', '1')), b.run(call('a', '2')), b.run(call('c', '3')), b.run(call('b', '4')), b.run(call('a', '5'))]);
    expect(rec.batches).toEqual([[['2'], ['5'], ['4'], ['1'], ['3']]]);
    // Every caller gets its own answer, whatever the order inside the batch.
    expect(answers).toEqual(['batch:1', 'batch:2', 'batch:3', 'batch:4', 'batch:5']);
  });

  it('never runs more than maxInFlight batches; what arrives meanwhile goes out with the next one', async () => {
    const rec = recorder();
    const b = new CallBatcher(rec.execute, { maxInFlight: 1, maxBatch: 3 });
    const first = [b.run(call('a', '1')), b.run(call('b', '2'))];
    await new Promise((r) => setImmediate(r));
    const later = Array.from({ length: 5 }, (_, i) => b.run(call(`k${i}`, `x${i}`)));
    await Promise.all([...first, ...later]);
    expect(rec.maxRunning()).toBe(1);
    // 2, then at most 3 per batch for the 5 that waited.
    expect(rec.batches.map((x) => x.length)).toEqual([2, 3, 2]);
  });

  it('keeps operations on a lock in flight for the next batch, while a free lane serves other locks', async () => {
    const rec = recorder();
    const b = new CallBatcher(rec.execute, { maxInFlight: 2, spareLaneAfterMs: 0 });
    const first = [b.run(call('hot', '1')), b.run(call('cold', '2'))];
    await new Promise((r) => setImmediate(r));
    // Arrive while the first batch (hot, cold) is in flight: a second lane is free.
    const later = [b.run(call('hot', '3')), b.run(call('other', '4')), b.run(call('hot', '5'))];
    await new Promise((r) => setImmediate(r));
    // Only 'other' went out meanwhile, alone; the hot lock's two wait for their lock's batch.
    expect(rec.batches).toEqual([[['2'], ['1']]]);
    expect(await Promise.all([...first, ...later])).toEqual(['batch:1', 'batch:2', 'batch:3', 'alone:4', 'batch:5']);
    expect(rec.batches).toEqual([[['2'], ['1']], [['3'], ['5']]]);
    expect(rec.maxRunning()).toBe(1);
  });

  it('opens a second lane only once the batch in flight is slow: a quick batch takes the next operations with it', async () => {
    let running = 0;
    let maxRunning = 0;
    const sizes: number[] = [];
    const b = new CallBatcher<string>(async (ops) => {
      sizes.push(ops.length);
      maxRunning = Math.max(maxRunning, ++running);
      await new Promise((r) => setTimeout(r, 20));
      running--;
      return ops.map((op) => `batch:${String(op.id)}`);
    }, { spareLaneAfterMs: 1_000 });
    const first = [b.run(call('a', '1')), b.run(call('b', '2'))];
    await new Promise((r) => setImmediate(r));
    // Arrive while the first batch is out (for less than the 1 s it would take to open a lane).
    const later = [b.run(call('c', '3')), b.run(call('d', '4'))];
    expect(await Promise.all([...first, ...later])).toEqual(['batch:1', 'batch:2', 'batch:3', 'batch:4']);
    expect(sizes).toEqual([2, 2]);
    expect(maxRunning).toBe(1);
  });

  it('sends what waits through a second lane once the batch in flight has been out spareLaneAfterMs', async () => {
    let finishSlow!: () => void;
    const b = new CallBatcher<string>(
      async (ops) => {
        await new Promise<void>((r) => (finishSlow = r));
        return ops.map((op) => `batch:${String(op.id)}`);
      },
      { spareLaneAfterMs: 10 },
    );
    const slow = Promise.all([b.run(call('busy', '1')), b.run(call('busy', '2'))]);
    await new Promise((r) => setImmediate(r));
    const started = performance.now();
    // Another lock's operation: not held up by the slow batch beyond the spare lane's delay.
    await expect(b.run(call('other', '3'))).resolves.toBe('alone:3');
    expect(performance.now() - started).toBeGreaterThanOrEqual(9);
    finishSlow();
    await expect(slow).resolves.toEqual(['batch:1', 'batch:2']);
  });

  it('retries every operation on its own when the batch fails, so only the failing one fails', async () => {
    const rec = recorder(() => Object.assign(new Error('deadlock detected'), { code: '40P01' }));
    const b = new CallBatcher(rec.execute);
    const bad = call('b', 'bad', () => Promise.reject(new Error('bad input')));
    const results = await Promise.allSettled([b.run(call('a', '1')), b.run(bad), b.run(call('c', '3'))]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['alone:1', 'bad input', 'alone:3']);
  });

  it('fails every operation at once when the database is unreachable, without retrying them', async () => {
    const unreachable = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const rec = recorder(() => unreachable);
    const b = new CallBatcher(rec.execute);
    const alone = jest.fn(() => Promise.resolve('alone'));
    const results = await Promise.allSettled([b.run(call('a', '1', alone)), b.run(call('b', '2', alone))]);
    expect(results.every((r) => r.status === 'rejected' && r.reason === unreachable)).toBe(true);
    expect(alone).not.toHaveBeenCalled();
  });

  it('runs the operations a batch hands back (busy lock) on their own, in order per lock', async () => {
    const b = new CallBatcher<string>(
      async (ops) => ops.map((op) => (String(op.id).startsWith('busy') ? 'retry' : `batch:${String(op.id)}`)),
      { runAlone: (answer) => answer === 'retry' },
    );
    const order: string[] = [];
    const slowAlone = (id: string, ms: number) => () => new Promise<string>((r) => setTimeout(() => (order.push(id), r(`alone:${id}`)), ms));
    const answers = await Promise.all([
      b.run(call('x', 'busy1', slowAlone('busy1', 20))),
      b.run(call('a', 'free')),
      b.run(call('x', 'busy2', slowAlone('busy2', 1))),
    ]);
    expect(answers).toEqual(['alone:busy1', 'batch:free', 'alone:busy2']);
    // busy2 is quicker, but queued after busy1 on the same lock: it runs after it.
    expect(order).toEqual(['busy1', 'busy2']);
    expect(b.stats.ranAlone).toBe(2);
  });

  it('treats an answer of the wrong length as a failed batch', async () => {
    const b = new CallBatcher<string>(async () => ['only one']);
    await expect(Promise.all([b.run(call('a', '1')), b.run(call('b', '2'))])).resolves.toEqual(['alone:1', 'alone:2']);
  });
});
