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
    expect(imports.filter((i) => !i.startsWith('./') && !i.startsWith('node:'))).toEqual([]);
  });

  it('keeps orders free of HTTP', () => {
    const imports = sources(path.join(SRC, 'orders')).flatMap((file) =>
      [...fs.readFileSync(file, 'utf8').matchAll(/from '([^']+)'/g)].map((m) => m[1]),
    );
    expect(imports.filter((i) => /express|node:http|\/payments\/callback\.routes/.test(i))).toEqual([]);
  });
});
