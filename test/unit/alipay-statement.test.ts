import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import iconv from 'iconv-lite';
import * as yazl from 'yazl';
import { parsePrivateKey, parsePublicKey } from '../../src/alipay/alipay.keys';
import { AlipayProvider } from '../../src/alipay/alipay.provider';
import { signText } from '../../src/alipay/alipay.signer';
import {
  downloadStatement,
  openStatement,
  parseYuanToFen,
  StatementDownloadError,
  StatementError,
  type StatementOptions,
  type StatementRow,
} from '../../src/alipay/alipay.statement';

/**
 * The statement reader on hand-written files in Alipay's real layout (test/fixtures/alipay/statements, UTF-8
 * sources encoded to GBK and zipped here, as Alipay serves them).
 */
const DIR = path.resolve(__dirname, '../fixtures/alipay/statements');
const DETAIL = readFileSync(path.join(DIR, 'detail-20260501.utf8.csv'), 'utf8');
const SUMMARY = readFileSync(path.join(DIR, 'summary-20260501.utf8.csv'), 'utf8');
const USER = '20880000000000010156';
const DETAIL_NAME = `${USER}_20260501_业务明细.csv`;
const SUMMARY_NAME = `${USER}_20260501_业务明细(汇总).csv`;

const crlf = (text: string) => text.replace(/\r?\n/g, '\r\n');
const gbk = (text: string) => iconv.encode(text, 'gbk');

/** A zip made with yazl (UTF-8 names), entries in order. */
async function zipOf(entries: Array<[name: string, data: Buffer | Readable]>, options: { compressionLevel?: number } = {}): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of entries) {
    if (Buffer.isBuffer(data)) zip.addBuffer(data, name, { compressionLevel: options.compressionLevel ?? 6 });
    else zip.addReadStream(data, name, { compressionLevel: options.compressionLevel ?? 6 });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** A zip as older Windows tools write it (and Alipay's downloads come): GBK names, no UTF-8 flag, deflated. */
function legacyZip(entries: Array<[name: string, data: Buffer]>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = gbk(name);
    const deflated = zlib.deflateRawSync(data);
    const crc = zlib.crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0, 6); // no flags: the name is in the "local" code page (GBK)
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(deflated.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0, 8);
    central.writeUInt16LE(8, 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(deflated.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, deflated);
    centrals.push(central, nameBytes);
    offset += 30 + nameBytes.length + deflated.length;
  }
  const cd = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, cd, end]);
}

/** The summary first (a reader that takes the first entry gets it wrong), then the detail. */
const statementZip = (detail = DETAIL) => zipOf([[SUMMARY_NAME, gbk(crlf(SUMMARY))], [DETAIL_NAME, gbk(crlf(detail))]]);

async function readAll(zip: Buffer, options?: StatementOptions) {
  const statement = await openStatement(zip, options);
  const rows: StatementRow[] = [];
  for await (const row of statement.rows) rows.push(row);
  return { statement, rows, totals: statement.totals() };
}

/** The StatementError that reading a statement to the end throws. */
async function refusal(zip: Buffer | Promise<Buffer>, options?: StatementOptions): Promise<StatementError> {
  try {
    await readAll(await zip, options);
  } catch (err) {
    expect(err).toBeInstanceOf(StatementError);
    return err as StatementError;
  }
  throw new Error('the statement was not refused');
}

/** The fixture with one line replaced (found by a piece of it). */
function edited(find: string, replace: (line: string) => string | null): string {
  const lines = DETAIL.split('\n');
  const i = lines.findIndex((l) => l.includes(find));
  if (i < 0) throw new Error(`no line with ${find}`);
  const next = replace(lines[i]);
  if (next === null) lines.splice(i, 1);
  else lines[i] = next;
  return lines.join('\n');
}

const EXPECTED: Array<Omit<StatementRow, 'createdAt'>> = [
  { kind: 'PAYMENT', tradeNo: '2026050122001400000000000101', outTradeNo: 'ORD20260501000001', subject: '绿茶 250 克', finishedAt: '2026-05-01 09:12:30', orderAmountFen: 10000n, receivedFen: 9500n, refundRequestNo: null, line: 6 },
  { kind: 'PAYMENT', tradeNo: '2026050122001400000000000102', outTradeNo: 'ORD20260501000002', subject: '普洱茶饼', finishedAt: '2026-05-01 10:00:41', orderAmountFen: 3580n, receivedFen: 3580n, refundRequestNo: null, line: 7 },
  { kind: 'PAYMENT', tradeNo: '2026050122001400000000000103', outTradeNo: 'ORD20260501000003', subject: '测试商品（小）', finishedAt: '2026-05-01 11:30:05', orderAmountFen: 1n, receivedFen: 1n, refundRequestNo: null, line: 8 },
  { kind: 'REFUND', tradeNo: '2026050122001400000000000101', outTradeNo: 'ORD20260501000001', subject: '绿茶 250 克', finishedAt: '2026-05-01 14:20:00', orderAmountFen: -3000n, receivedFen: -3000n, refundRequestNo: 'RF20260501000001', line: 9 },
  { kind: 'PAYMENT', tradeNo: '2026050122001400000000000104', outTradeNo: 'ORD20260501000004', subject: '茶具, 青花', finishedAt: '2026-05-01 15:01:00', orderAmountFen: 800n, receivedFen: 800n, refundRequestNo: null, line: 10 },
  { kind: 'PAYMENT', tradeNo: '2026050122001400000000000105', outTradeNo: 'ORD20260501000005', subject: '礼盒 "特级", 2 件', finishedAt: '2026-05-01 16:00:09', orderAmountFen: 6666n, receivedFen: 6666n, refundRequestNo: null, line: 11 },
  { kind: 'REFUND', tradeNo: '2026050122001400000000000103', outTradeNo: 'ORD20260501000003', subject: '测试商品（小）', finishedAt: '2026-05-01 18:00:00', orderAmountFen: -1n, receivedFen: -1n, refundRequestNo: 'RF20260501000002', line: 12 },
  { kind: 'REFUND', tradeNo: '2026043022001400000000000099', outTradeNo: 'ORD20260430000099', subject: '昨天的订单', finishedAt: '2026-05-01 20:45:10', orderAmountFen: -500n, receivedFen: -500n, refundRequestNo: 'RF20260501000003', line: 13 },
];

describe('reading an Alipay statement zip', () => {
  it('reads every row of the detail file exactly, in fen, and the totals it checked them against', async () => {
    const { statement, rows, totals } = await readAll(await statementZip(), { billDate: '2026-05-01' });
    expect(statement).toMatchObject({ fileName: DETAIL_NAME, billDate: '2026-05-01', account: USER });
    expect(rows.map(({ createdAt: _, ...rest }) => rest)).toEqual(EXPECTED);
    expect(rows[3].createdAt).toBe('2026-05-01 09:12:03'); // a refund row keeps the trade's creation time
    expect(totals).toEqual({
      payments: { count: 5, receivedFen: 20547n },
      refunds: { count: 3, receivedFen: -3501n },
      exportedAt: '2026年05月02日 05:46:49',
    });
  });

  it('reads a zip whose entry names are GBK without the UTF-8 flag, as Alipay writes them, the same way', async () => {
    const zip = legacyZip([[SUMMARY_NAME, gbk(crlf(SUMMARY))], [DETAIL_NAME, gbk(crlf(DETAIL))]]);
    const { statement, rows } = await readAll(zip);
    expect(statement.fileName).toBe(DETAIL_NAME);
    expect(rows.map(({ createdAt: _, ...rest }) => rest)).toEqual(EXPECTED);
  });

  it('matches columns by header name: another order, fewer columns, ASCII parentheses, LF line ends', async () => {
    const text = [
      '#支付宝业务明细查询',
      ' 商户订单号 ,\t业务类型,支付宝交易号,商家实收(元),订单金额(元),完成时间',
      'A1\t,交易\t,T1\t,12.5,12.50,2026-05-01 08:00:00',
      'A1\t,退款\t,T1\t,-2,-2.00,',
      '#交易合计：1笔，商家实收共12.50元，商家优惠共0.00元',
      '#退款合计：1笔，商家实收退款共-2.00元，商家优惠退款共0.00元',
    ].join('\n');
    const { rows } = await readAll(await zipOf([[DETAIL_NAME, gbk(text)]]));
    expect(rows).toEqual([
      { kind: 'PAYMENT', tradeNo: 'T1', outTradeNo: 'A1', subject: '', createdAt: null, finishedAt: '2026-05-01 08:00:00', orderAmountFen: 1250n, receivedFen: 1250n, refundRequestNo: null, line: 3 },
      { kind: 'REFUND', tradeNo: 'T1', outTradeNo: 'A1', subject: '', createdAt: null, finishedAt: null, orderAmountFen: -200n, receivedFen: -200n, refundRequestNo: null, line: 4 },
    ]);
  });

  it('reads the rows lazily, once, and tells the totals only after the last row', async () => {
    const statement = await openStatement(await statementZip());
    expect(() => statement.totals()).toThrow(/once the rows have been read/);
    const seen: string[] = [];
    for await (const row of statement.rows) {
      seen.push(row.tradeNo);
      if (seen.length === 2) break;
    }
    expect(seen).toHaveLength(2);
    await expect(async () => {
      for await (const _ of statement.rows) void _;
    }).rejects.toThrow(/read once/);
  });
});

describe('refusing a statement that cannot be trusted', () => {
  it('refuses totals that disagree with the rows: a row missing, a sum changed, refunds without their totals, no totals', async () => {
    const missingRow = await refusal(statementZip(edited('ORD20260501000004', () => null)));
    expect(missingRow.message).toMatch(/totals disagree.*#交易合计 says 5, 商家实收 205\.47; the payment rows are 4, 商家实收 197\.47/);

    const sum = await refusal(statementZip(edited('#退款合计', (l) => l.replace('-35.01', '-35.00'))));
    expect(sum.message).toMatch(/#退款合计 says 3, 商家实收 -35\.00; the refund rows are 3, 商家实收 -35\.01/);

    const noRefundTotals = await refusal(statementZip(edited('#退款合计', () => null)));
    expect(noRefundTotals.message).toMatch(/3 refund rows and no #退款合计 line/);

    const cut = DETAIL.slice(0, DETAIL.indexOf('#-----------------------------------------业务明细列表结束'));
    expect((await refusal(statementZip(cut))).message).toMatch(/no #交易合计 line: it is cut short/);
  });

  it('refuses an unknown 业务类型, naming the line', async () => {
    const err = await refusal(statementZip(edited('ORD20260501000002', (l) => l.replace('交易\t', '冻结\t'))));
    expect(err.message).toBe('line 7: unknown 业务类型 "冻结" (expected 交易 or 退款)');
  });

  it('refuses a header without a required column', async () => {
    const err = await refusal(statementZip(DETAIL.replace('商家实收（元）', '实收')));
    expect(err.message).toMatch(/header lacks 商家实收（元）/);
  });

  it.each([
    ['1.234', /订单金额（元） "1\.234" is not an amount/],
    ['1e3', /订单金额（元） "1e3" is not an amount/],
    ['"12,00"', /订单金额（元） "12,00" is not an amount/],
    ['+1.00', /"\+1\.00" is not an amount/],
    ['', /订单金额（元） "" is not an amount/],
    ['１２.００', /is not an amount/],
  ])('refuses the amount %s, naming the line and the column', async (amount, message) => {
    const err = await refusal(statementZip(edited('ORD20260501000002', (l) => l.replace('\t35.80', amount))));
    expect(err.message).toMatch(/^line 7: /);
    expect(err.message).toMatch(message);
  });

  it('refuses an unquoted comma that shifts the amounts (12,00), rather than misreading the row', async () => {
    const err = await refusal(statementZip(edited('ORD20260501000002', (l) => l.replace('\t35.80', '12,00'))));
    expect(err.message).toMatch(/^line 7: .*(not an amount|not a time).*26 fields for 25 columns/);
  });

  it('refuses a line longer than the limit, and a quoted field left open', async () => {
    const long = edited('ORD20260501000002', (l) => l.replace('普洱茶饼', '茶'.repeat(70_000)));
    expect((await refusal(statementZip(long))).message).toBe('line 7 is longer than 65536 characters');
    const open = edited('ORD20260501000002', (l) => l.replace('普洱茶饼', '"普洱茶饼'));
    expect((await refusal(statementZip(open))).message).toBe('line 7: a quoted field is not closed');
  });

  it('refuses a zip bomb: declared past the limit before inflating, and lying about its size while inflating', async () => {
    // 210 MiB of zeros deflate to about 200 KiB.
    const zeros = () => Readable.from((function* () {
      const mib = Buffer.alloc(1024 * 1024);
      for (let i = 0; i < 210; i++) yield mib;
    })());
    const bomb = await zipOf([[DETAIL_NAME, zeros()]], { compressionLevel: 1 });
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    expect((await refusal(bomb)).message).toMatch(/declares 220200960 bytes, over the limit of 209715200 \(a zip bomb\?\)/);

    // The same entry claiming 1 KiB in the central directory: the reader stops at the lie.
    const lying = Buffer.from(bomb);
    const cd = lying.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    lying.writeUInt32LE(1024, cd + 24);
    const before = process.memoryUsage().heapUsed;
    expect((await refusal(lying)).message).toMatch(/too many bytes|inflates past/);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(50 * 1024 * 1024);

    // An honest entry just over a smaller limit, counted while inflating.
    const small = await zipOf([[DETAIL_NAME, gbk(crlf(DETAIL))]]);
    expect((await refusal(small, { maxUncompressedBytes: 1000 })).message).toMatch(/over the limit of 1000/);
  });

  it('refuses what is not a statement zip: not a zip, a cut-off zip, no detail file, two, too many entries, another day', async () => {
    expect((await refusal(Buffer.from('<html>link expired</html>'))).message).toMatch(/^not a zip file/);
    expect((await refusal(Buffer.alloc(0))).message).toMatch(/^not a zip file/);
    const whole = await statementZip();
    expect((await refusal(whole.subarray(0, whole.length - 30))).message).toMatch(/^not a zip file/);
    expect((await refusal(zipOf([[SUMMARY_NAME, gbk(SUMMARY)]]))).message).toMatch(/no detail file .*"20880000000000010156_20260501_业务明细\(汇总\)\.csv"/);
    expect((await refusal(zipOf([[DETAIL_NAME, gbk(DETAIL)], [`x/${DETAIL_NAME}`, gbk(DETAIL)]]))).message).toMatch(/2 detail files/);
    const many = await zipOf(Array.from({ length: 17 }, (_, i) => [`f${i}.txt`, Buffer.from('x')] as [string, Buffer]));
    expect((await refusal(many)).message).toMatch(/17 entries/);
    expect((await refusal(whole, { billDate: '2026-05-02' })).message).toMatch(/is for 2026-05-01, not 2026-05-02/);
    expect((await refusal(whole, { maxZipBytes: 100 })).message).toMatch(/over the limit of 100/);
  });
});

describe('a large statement', () => {
  it('reads 200,000 rows in bounded memory, with an exact count and sum', async () => {
    const ROWS = 200_000;
    const header = DETAIL.split('\n').slice(0, 5).join('\r\n');
    function* text(): Generator<Buffer> {
      yield gbk(`${header}\r\n`);
      for (let start = 0; start < ROWS; start += 5000) {
        const lines: string[] = [];
        for (let i = start; i < start + 5000; i++) {
          const fen = (i % 9973) + 1;
          const amount = `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;
          lines.push(`2026050122001400${String(i).padStart(12, '0')}\t,ORD${i}\t,交易\t,商品${i},2026-05-01 10:00:00,2026-05-01 10:00:01,\t,\t,\t,\t,*小明(138****0000)\t,${amount},${amount},0.00,0.00,0.00,0.00,0.00,,0.00\t,0.00,\t,0.00,0.00,`);
        }
        yield gbk(`${lines.join('\r\n')}\r\n`);
      }
    }
    let expectedFen = 0n;
    for (let i = 0; i < ROWS; i++) expectedFen += BigInt((i % 9973) + 1);
    const trailer = `#-----------------------------------------业务明细列表结束------------------------------------\r\n#交易合计：${ROWS}笔，商家实收共${Number(expectedFen / 100n)}.${String(expectedFen % 100n).padStart(2, '0')}元，商家优惠共0.00元\r\n#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元\r\n`;
    const zip = await zipOf([[DETAIL_NAME, Readable.from((function* () {
      yield* text();
      yield gbk(trailer);
    })())]]);

    const statement = await openStatement(zip);
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
    let count = 0;
    let sum = 0n;
    for await (const row of statement.rows) {
      count++;
      sum += row.receivedFen;
      if (count % 10_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed - base);
    }
    expect(count).toBe(ROWS);
    expect(sum).toBe(expectedFen);
    expect(statement.totals().payments).toEqual({ count: ROWS, receivedFen: expectedFen });
    // Streaming stays near 10 MB here; holding the rows would take over 100 MB.
    expect(peak).toBeLessThan(50 * 1024 * 1024);
  }, 30_000);
});

describe('yuan to fen', () => {
  it('reads decimal text exactly and refuses everything else', () => {
    expect(['0', '0.1', '0.01', '12.30', '-30.00', '-0.01', '99999999999.99'].map(parseYuanToFen)).toEqual([0n, 10n, 1n, 1230n, -3000n, -1n, 9999999999999n]);
    expect(['', '1.234', '1e3', '12,00', '.5', '5.', '01.00', '--1', '1 000', 'NaN', '0x10', '１'].map(parseYuanToFen)).toEqual(Array(12).fill(null));
  });
});

describe('downloading a statement', () => {
  let server: http.Server;
  let base: string;
  let handler: (req: http.IncomingMessage, res: http.ServerResponse) => void;

  beforeAll(async () => {
    server = http.createServer((req, res) => handler(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('returns the bytes of the zip', async () => {
    const zip = await statementZip();
    handler = (_req, res) => res.end(zip);
    expect((await downloadStatement(`${base}/bill.csv.zip`)).equals(zip)).toBe(true);
  });

  it('aborts past the size limit, declared or streamed', async () => {
    handler = (_req, res) => res.end(Buffer.alloc(5000));
    await expect(downloadStatement(`${base}/x`, { maxBytes: 1000 })).rejects.toThrow(/5000 bytes, over the limit of 1000/);
    let written = 0;
    handler = (_req, res) => {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      const endless = new Readable({
        read() {
          written += 64 * 1024;
          this.push(written > 100 * 1024 * 1024 ? null : Buffer.alloc(64 * 1024));
        },
      });
      endless.pipe(res);
      res.on('close', () => endless.destroy());
    };
    await expect(downloadStatement(`${base}/x`, { maxBytes: 256 * 1024 })).rejects.toThrow(/over the limit of 262144 bytes/);
    expect(written).toBeLessThan(10 * 1024 * 1024);
  });

  it('times out a slow download, and refuses HTTP errors and links that are not http(s), without echoing the link', async () => {
    handler = (_req, res) => {
      res.writeHead(200);
      res.write('PK');
    };
    const slow = downloadStatement(`${base}/secret-token`, { timeoutMs: 300 });
    await expect(slow).rejects.toThrow(StatementDownloadError);
    await expect(slow).rejects.toThrow('the statement download timed out after 300 ms');
    handler = (_req, res) => res.writeHead(404).end('expired');
    await expect(downloadStatement(`${base}/secret-token`)).rejects.toMatchObject({ status: 404, message: 'the statement download answered HTTP 404' });
    await expect(downloadStatement('file:///etc/passwd')).rejects.toThrow('the statement link is not http(s)');
    await expect(downloadStatement('not a url')).rejects.toThrow('the statement link is not a URL');
  });
});

describe('asking Alipay for the bill link', () => {
  const fixtures = path.resolve(__dirname, '../fixtures/alipay/python-alipay-sdk');
  const aliKey = parsePrivateKey(readFileSync(path.join(fixtures, 'ali/ali_private_key.pem'), 'utf8'));
  let gateway: http.Server;
  let answer: { body: Record<string, string>; signed: boolean };
  let asked: Record<string, unknown>[] = [];
  let provider: AlipayProvider;

  beforeAll(async () => {
    gateway = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', async () => {
        const params = new URLSearchParams(Buffer.concat(chunks).toString());
        asked.push({ method: params.get('method'), biz: JSON.parse(params.get('biz_content') ?? '{}') });
        const content = JSON.stringify(answer.body);
        const member = `${params.get('method')!.replace(/\./g, '_')}_response`;
        res.setHeader('content-type', 'application/json');
        res.end(answer.signed ? `{"${member}":${content},"sign":"${await signText(content, aliKey, 'RSA2')}"}` : `{"${member}":${content}}`);
      });
    });
    await new Promise<void>((r) => gateway.listen(0, '127.0.0.1', r));
    provider = new AlipayProvider({
      appId: '2021000000000077',
      signType: 'RSA2',
      gatewayUrl: `http://127.0.0.1:${(gateway.address() as AddressInfo).port}/gateway.do`,
      appPrivateKey: parsePrivateKey(readFileSync(path.join(fixtures, 'app/app_private_key.pem'), 'utf8')),
      alipayPublicKey: parsePublicKey(readFileSync(path.join(fixtures, 'ali/ali_public_key.pem'), 'utf8')),
      retries: 0,
    });
  });
  afterAll(() => new Promise<void>((r) => gateway.close(() => r())));
  beforeEach(() => {
    asked = [];
  });

  it("asks for the day's trade bill and returns the link", async () => {
    answer = { body: { code: '10000', msg: 'Success', bill_download_url: 'https://dwbillcenter.alipay.com/downloadBillFile.resource?fileId=x' }, signed: true };
    expect(await provider.billDownloadUrl('2026-05-01')).toEqual({ url: 'https://dwbillcenter.alipay.com/downloadBillFile.resource?fileId=x' });
    expect(asked).toEqual([{ method: 'alipay.data.dataservice.bill.downloadurl.query', biz: { bill_type: 'trade', bill_date: '2026-05-01' } }]);
  });

  it('takes a signed isp.bill_not_exist as "no bill", and throws an unsigned one', async () => {
    answer = { body: { code: '40004', msg: 'Business Failed', sub_code: 'isp.bill_not_exist', sub_msg: '账单不存在' }, signed: true };
    expect(await provider.billDownloadUrl('2026-05-01')).toEqual({ none: true, subCode: 'isp.bill_not_exist', subMsg: '账单不存在' });
    answer = { ...answer, signed: false };
    await expect(provider.billDownloadUrl('2026-05-01')).rejects.toMatchObject({ name: 'AlipayError', subCode: 'isp.bill_not_exist', verified: false });
    answer = { body: { code: '40004', msg: 'Business Failed', sub_code: 'isp.unknown-error', sub_msg: '系统繁忙' }, signed: true };
    await expect(provider.billDownloadUrl('2026-05-01')).rejects.toMatchObject({ name: 'AlipayError', subCode: 'isp.unknown-error' });
  });

  it('refuses a success without an http(s) link, and a bill date that is not a day', async () => {
    answer = { body: { code: '10000', msg: 'Success', bill_download_url: 'file:///etc/passwd' }, signed: true };
    await expect(provider.billDownloadUrl('2026-05-01')).rejects.toMatchObject({ name: 'AlipayResponseError' });
    for (const bad of ['2026-02-30', '2026-05', '20260501', "2026-05-01' or 1=1"]) await expect(provider.billDownloadUrl(bad)).rejects.toThrow(RangeError);
    expect(asked).toHaveLength(1);
  });
});
