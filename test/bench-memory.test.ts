/** The memory bench's figures: where it reads RSS, and the median it reports for each mark. */
import { describe, expect, it } from 'vitest';
import { memoryFigure, readingPoints } from '../bench/memory.js';

const mib = 1024 * 1024;

describe('memory bench figures', () => {
  it('reads five times up to each mark, a two-hundredth of the jobs apart', () => {
    expect(readingPoints(200_000)).toEqual([
      { mark: 20_000, points: [16_000, 17_000, 18_000, 19_000, 20_000] },
      { mark: 200_000, points: [196_000, 197_000, 198_000, 199_000, 200_000] },
    ]);
    // Small runs keep every point at one job or more.
    expect(readingPoints(100)[0]).toEqual({ mark: 10, points: [6, 7, 8, 9, 10] });
    expect(readingPoints(10)[0]).toEqual({ mark: 1, points: [1] });
  });

  it('reports the median reading, and every reading', () => {
    const reported = [180, 150, 200, 170, 160].map((rss, i) => ({
      type: 'checkpoint' as const,
      handled: 16 + i,
      rssBytes: rss * mib,
      heapUsedBytes: 29 * mib,
    }));
    const figure = memoryFigure(20, [16, 17, 18, 19, 20], reported);
    expect(figure).toMatchObject({ jobs: 20, rssMiB: 170, heapUsedMiB: 29 });
    expect(figure.readings.map((r) => [r.jobs, r.rssMiB])).toEqual([[16, 180], [17, 150], [18, 200], [19, 170], [20, 160]]);
  });

  it('fails when the worker did not report a reading', () => {
    expect(() => memoryFigure(20, [19, 20], [])).toThrow('the worker did not report RSS after 19 jobs');
  });
});
