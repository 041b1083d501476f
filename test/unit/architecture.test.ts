import fs from 'node:fs';
import path from 'node:path';

const SRC = path.join(__dirname, '../../src');

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('the layout rules of DESIGN.md', () => {
  it('assigns an order status only in the transition function (order.state.ts)', () => {
    // Through the ORM: Order.status is readonly, so the compiler refuses any assignment.
    const entity = fs.readFileSync(path.join(SRC, 'orders', 'order.entity.ts'), 'utf8');
    expect(entity).toMatch(/readonly status: OrderStatus/);
    expect(sources(SRC).filter((file) => /-readonly|as \{ status/.test(fs.readFileSync(file, 'utf8')))).toEqual([]);
    // Through SQL: the only UPDATE of orders that sets status is the transition function's.
    const writers = sources(SRC).filter((file) => /update\s+orders\s+set[^;`]*\bstatus\s*=/i.test(fs.readFileSync(file, 'utf8')));
    expect(writers.map((f) => path.relative(SRC, f))).toEqual([path.join('orders', 'order.state.ts')]);
  });

  it('keeps the Alipay provider free of orders, storage and HTTP frameworks', () => {
    const imports = sources(path.join(SRC, 'alipay')).flatMap((file) =>
      [...fs.readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]),
    );
    // Besides Node, only the statement's decoders: the zip reader and GBK.
    expect(imports.filter((i) => !i.startsWith('./') && !i.startsWith('node:') && !['iconv-lite', 'yauzl'].includes(i))).toEqual([]);
  });

  it('keeps orders free of HTTP', () => {
    const imports = sources(path.join(SRC, 'orders')).flatMap((file) =>
      [...fs.readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]),
    );
    expect(imports.filter((i) => /express|node:http|\/payments\/callback\.routes/.test(i))).toEqual([]);
  });
});

/** Every relative import (type-only ones too) of every source file, as resolved file paths under src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = fs.readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g)].map((m) => {
      const base = path.resolve(path.dirname(file), m[1]);
      return [`${base}.ts`, path.join(base, 'index.ts')].find((candidate) => fs.existsSync(candidate)) ?? base;
    });
    graph.set(file, targets);
  }
  return graph;
}

describe('one way to change an order', () => {
  const rel = (file: string) => path.relative(SRC, file);

  it('has no import cycles in src/ (type-only imports count)', () => {
    const graph = importGraph();
    // The graph is real: the app imports the services, and a service its types.
    expect(graph.get(path.join(SRC, 'app.ts'))).toContain(path.join(SRC, 'payments', 'trade.service.ts'));
    expect(graph.get(path.join(SRC, 'payments', 'trade.service.ts'))).toContain(path.join(SRC, 'payments', 'refund.service.ts'));
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, 'visiting');
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === 'visiting') cycles.push([...stack.slice(stack.indexOf(next)), next].map(rel).join(' → '));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, 'done');
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(cycles).toEqual([]);
  });

  it('keeps orders/ free of payments/', () => {
    const offending = [...importGraph()].filter(([file, targets]) => rel(file).startsWith('orders') && targets.some((t) => rel(t).startsWith('payments')));
    expect(offending.map(([file]) => rel(file))).toEqual([]);
  });

  it('locks an order row in one place only: lockOrder in orders/order.row.ts', () => {
    const text = (file: string) => fs.readFileSync(file, 'utf8');
    const lockers = sources(SRC).filter((file) => (/\bfrom\s+orders\b/i.test(text(file)) && /\bfor\s+update\b/i.test(text(file))) || /LockMode\.PESSIMISTIC/.test(text(file)));
    expect(lockers.map(rel).filter((f) => !f.startsWith('sandbox'))).toEqual([path.join('orders', 'order.row.ts')]);
  });

  it('never fakes an entity, and never writes orders or refunds through MikroORM', () => {
    const offending = sources(SRC)
      .filter((file) => !rel(file).startsWith('sandbox'))
      .filter((file) => /Object\.create\(\w+\.prototype\)|\.(create|nativeUpdate|nativeDelete|upsert|persist)\((Order|Refund|OrderEvent|CallbackLog|PaymentException)\b|\.flush\(\)/.test(fs.readFileSync(file, 'utf8')));
    expect(offending.map(rel)).toEqual([]);
  });
});
