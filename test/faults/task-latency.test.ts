import { describe, expect, it } from 'vitest';
import { latencyBetween, parseTaskLatency } from '../../faults/task-latency.js';

const exposition = (activity: number[], workflow: number[]) => {
  const les = ['0.01', '0.1', '1', '+Inf'];
  const lines = (type: string, queue: string, counts: number[]) =>
    les.map((le, i) => `task_schedule_to_start_latency_bucket{namespace="default",task_type="${type}",taskqueue="${queue}",le="${le}"} ${counts[i]}`);
  return [
    '# HELP task_schedule_to_start_latency task_schedule_to_start_latency histogram',
    ...lines('Activity', 'cheapa', activity),
    // A second queue of the same type is summed with the first.
    ...lines('Activity', 'other', [0, 0, 1, 1]),
    ...lines('Workflow', 'cheapa', workflow),
    'task_schedule_to_start_latency_count{task_type="Activity"} 99',
    'persistence_latency_bucket{le="1"} 5',
  ].join('\n');
};

describe('Temporal task latency over the soak (the server histogram read twice)', () => {
  it('sums every task queue per task type and ignores other metrics', () => {
    const h = parseTaskLatency(exposition([1, 2, 3, 3], [0, 4, 4, 4]));
    expect([...h.Activity!.entries()]).toEqual([
      [0.01, 1],
      [0.1, 2],
      [1, 4],
      [Infinity, 4],
    ]);
    expect(h.Workflow!.get(0.1)).toBe(4);
  });

  it('gives the percentiles of the tasks counted between the readings, as bucket upper bounds in ms', () => {
    const before = parseTaskLatency(exposition([10, 10, 10, 10], [0, 0, 0, 0]));
    // Since then: 98 activity tasks under 10 ms, 1 under 100 ms, 1 under 1 s.
    const after = parseTaskLatency(exposition([108, 109, 110, 110], [0, 50, 50, 50]));
    expect(latencyBetween(before, after)).toEqual({
      Activity: { tasks: 100, p50Ms: 10, p99Ms: 100 },
      Workflow: { tasks: 50, p50Ms: 100, p99Ms: 100 },
    });
  });

  it('says nothing of a task type with no task in between', () => {
    const same = parseTaskLatency(exposition([1, 1, 1, 1], [2, 2, 2, 2]));
    expect(latencyBetween(same, same).Activity).toEqual({ tasks: 0, p50Ms: null, p99Ms: null });
  });

  it('refuses a histogram that went backwards (the server restarted between the readings)', () => {
    const before = parseTaskLatency(exposition([5, 5, 5, 5], [0, 0, 0, 0]));
    const after = parseTaskLatency(exposition([1, 1, 1, 1], [0, 0, 0, 0]));
    expect(() => latencyBetween(before, after)).toThrow(/backwards/);
  });
});
