import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '../..');

describe('.env.example', () => {
  it('lists exactly the variables the configuration reads, each with a one-line meaning', () => {
    const config = fs.readFileSync(path.join(ROOT, 'src/config.ts'), 'utf8');
    // Variable names (algorithm names such as 'RS256' or 'RSA2' are values, not variables).
    const read = new Set([...config.matchAll(/'([A-Z][A-Z0-9_]{2,})'/g)].map((m) => m[1]).filter((n) => n.includes('_') || ['PORT', 'HOST', 'WORKERS'].includes(n)));
    for (const inlineOrFile of [...config.matchAll(/inlineOrFile\('([A-Z_]+)'\)/g)]) read.add(`${inlineOrFile[1]}_PATH`);
    const example = fs.readFileSync(path.join(ROOT, '.env.example'), 'utf8');
    const listed = new Set([...example.matchAll(/^# ([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    expect([...listed].sort()).toEqual([...read].sort());
    // No secret sits in the example.
    expect(example).not.toMatch(/^[A-Z_]+=\S/m);
  });
});
