/**
 * Where the server's time goes: `node -r ./scripts/swc-register.js bench/profile-summary.ts <file.cpuprofile>`
 * prints self time by package (node_modules/<pkg>, our src/ files, node internals) and the top functions.
 * Profiles come from `BENCH_PROFILE=<dir> npm run bench` (the server runs with --cpu-prof).
 */
import fs from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const profile = JSON.parse(fs.readFileSync(process.argv[2], 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
const total = [...self.values()].reduce((a, b) => a + b, 0);

const where = (url: string): string => {
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1];
  if (url.includes('/src/')) return `src/${url.split('/src/')[1]}`;
  if (!url) return '(native/gc/idle)';
  return url.startsWith('node:') ? 'node internals' : url;
};
const groups = new Map<string, number>();
const functions = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id)!;
  const g = where(n.callFrame.url);
  groups.set(g, (groups.get(g) ?? 0) + us);
  const f = `${n.callFrame.functionName || '(anonymous)'}  ${g}:${n.callFrame.lineNumber + 1}`;
  functions.set(f, (functions.get(f) ?? 0) + us);
}
const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`total ${(total / 1e6).toFixed(1)} s sampled\n\nby package:`);
for (const [g, us] of [...groups].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${pct(us)}  ${g}`);
console.log('\ntop functions (self time):');
for (const [f, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.log(`${pct(us)}  ${f}`);
