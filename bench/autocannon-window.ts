import autocannon from 'autocannon';

/**
 * One autocannon window of `seconds` against `url` with these request definitions; `onTick` gets the answers of
 * each second (the load scripts print them). Shared by the project's and the side-by-side load drivers, so both
 * measure the same way.
 */
export function runWindow(
  target: { url: string; connections: number; requests: unknown[] },
  seconds: number,
  onTick?: (answersThisSecond: number) => void,
): Promise<autocannon.Result> {
  return new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url: target.url, connections: target.connections, duration: seconds, requests: target.requests as never }, (err, result) =>
      err ? reject(err) : resolve(result),
    );
    let count = 0;
    instance.on('response', () => count++);
    const timer = setInterval(() => {
      onTick?.(count);
      count = 0;
    }, 1000);
    instance.on('done', () => clearInterval(timer));
  });
}
