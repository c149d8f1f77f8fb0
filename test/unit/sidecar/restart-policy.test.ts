import { describe, expect, it } from 'vitest';
import { RestartPolicy } from '../../../src/sidecar/restart-policy.js';

describe('RestartPolicy', () => {
  const settings = { initialBackoff: 100, maxBackoff: 1_000, crashLoopRestarts: 5, crashLoopWindow: 60_000 };

  it('doubles the delay with each restart in the window, capped at maxBackoff', () => {
    const p = new RestartPolicy(settings);
    const delays = [0, 1, 2, 3, 4].map((i) => p.onExit(i * 10));
    expect(delays.map((d) => (d.restart ? d.delayMs : null))).toEqual([100, 200, 400, 800, 1_000]);
  });

  it('gives up when the crash-loop limit is reached within the window', () => {
    const p = new RestartPolicy({ ...settings, crashLoopRestarts: 3 });
    expect([0, 1, 2].map((t) => p.onExit(t).restart)).toEqual([true, true, true]);
    expect(p.onExit(3)).toEqual({ restart: false, recentRestarts: 3 });
  });

  it('forgets restarts older than the window: a stable instance starts again from the initial delay', () => {
    const p = new RestartPolicy({ ...settings, crashLoopRestarts: 2 });
    p.onExit(0);
    p.onExit(10);
    const later = p.onExit(70_000);
    expect(later).toEqual({ restart: true, delayMs: 100, recentRestarts: 1 });
  });
});
