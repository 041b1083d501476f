/**
 * Alipay's daily statement (对账单, bill_type `trade`): downloading the zip that `bill_download_url` names, and
 * reading its detail file (`<userId>_<yyyymmdd>_业务明细.csv`, GBK) as a stream of rows, in bounded memory.
 *
 *   const statement = await openStatement(zip, { billDate: '2026-05-01' });
 *   for await (const row of statement.rows) { … }   // rows are final only once the loop ends without an error
 *   const totals = statement.totals();               // the file's own totals, checked against the rows
 *
 * Layout (see ALIPAY.md): `#` comment lines, the header row, the rows, an end rule, then the totals
 * (`#交易合计：N笔，商家实收共X元，…`, `#退款合计：N笔，商家实收退款共-X元，…`) and `#导出时间：[…]`. Columns are matched
 * by header name, values are trimmed of the spaces and tabs Alipay pads them with, money is read from its decimal
 * text into fen (bigint), never through a float.
 *
 * CSV: Alipay writes plain comma-separated fields without quoting. A field that starts with `"` is read as an
 * RFC 4180 quoted field (on one line) all the same. A row with more fields than the header is taken to have
 * unquoted commas in 商品名称 (the subject, the merchant's free text): the columns before it are read from the left
 * and the columns after it from the right. If the commas were elsewhere, the amounts or times land in the wrong
 * columns and the row is refused with its line number, never misread silently.
 */
import type { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import * as yauzl from 'yauzl';
import { parseBeijingTime } from './alipay.time';

/** The statement cannot be used: not a zip, no detail file, a limit passed, a malformed row, totals that disagree. */
export class StatementError extends Error {
  override name = 'StatementError';
}

/** The statement could not be downloaded (unreachable, timed out, HTTP error, too large): ask for a new link later. */
export class StatementDownloadError extends Error {
  override name = 'StatementDownloadError';
  constructor(
    message: string,
    /** The HTTP status, when the server answered. */
    readonly status: number | null = null,
  ) {
    super(message);
  }
}

/** One row of the detail file: a payment (业务类型 交易) or a refund (退款). */
export interface StatementRow {
  kind: 'PAYMENT' | 'REFUND';
  /** 支付宝交易号: Alipay's trade_no. */
  tradeNo: string;
  /** 商户订单号: our out_trade_no (may be empty for money that did not come through our API). */
  outTradeNo: string;
  /** 商品名称. */
  subject: string;
  /** 创建时间 as written (Beijing time, `yyyy-MM-dd HH:mm:ss`), or null when empty or absent. */
  createdAt: string | null;
  /** 完成时间 as written (Beijing time): when the payment or the refund went through. */
  finishedAt: string | null;
  /** 订单金额（元） in fen, signed as in the file (refund rows carry the refund, negative). */
  orderAmountFen: bigint;
  /** 商家实收（元） in fen, signed as in the file: refunds negative. */
  receivedFen: bigint;
  /** 退款批次号/请求号: the refund's out_request_no; null when empty or absent. */
  refundRequestNo: string | null;
  /** The line of the detail file (1-based), for messages. */
  line: number;
}

/** One totals line: how many rows and their 商家实收 sum (null when the line is worded without 商家实收). */
export interface StatementTotalsLine {
  count: number;
  receivedFen: bigint | null;
}

export interface StatementTotals {
  /** `#交易合计`. */
  payments: StatementTotalsLine;
  /** `#退款合计`; `{ count: 0, receivedFen: 0n }` when the file has no such line and no refund rows. */
  refunds: StatementTotalsLine;
  /** `#导出时间：[…]` as written, e.g. `2026年05月02日 05:46:49`. */
  exportedAt: string | null;
}

export interface Statement {
  /** The detail file's name in the zip, e.g. `20880000000000010156_20260501_业务明细.csv`. */
  fileName: string;
  /** The bill date from the file name, `YYYY-MM-DD`. */
  billDate: string;
  /** `#账号：[…]`, when the file has it (the 2088… user id with Alipay's 0156 suffix). */
  account: string | null;
  /**
   * The rows, read as the loop asks for them (iterate once). The last step checks the file's totals against the
   * rows: a statement that is cut short or disagrees with itself throws a StatementError at the end, so keep what
   * the rows say provisional (one transaction) until the loop completes.
   */
  rows: AsyncIterable<StatementRow>;
  /** The totals, checked against the rows; only after `rows` has been consumed to the end. */
  totals(): StatementTotals;
  /** Stops reading (not needed after iterating to the end, or after breaking out of the loop). */
  close(): void;
}

export interface StatementOptions {
  /** The zip itself (default 64 MiB). */
  maxZipBytes?: number;
  /** Entries in the zip (default 16; Alipay's has two). */
  maxEntries?: number;
  /** Bytes the detail file may inflate to, declared or actual (default 200 MiB): the zip-bomb guard. */
  maxUncompressedBytes?: number;
  /** Characters in one line (default 64 Ki). */
  maxLineLength?: number;
  /** When given (`YYYY-MM-DD`), the detail file must be that day's. */
  billDate?: string;
}

export interface DownloadOptions {
  /** Bytes the download may have (default 64 MiB); past it the download is aborted. */
  maxBytes?: number;
  /** For the whole download, connection to last byte (default 60 s). */
  timeoutMs?: number;
}

const MiB = 1024 * 1024;
const DEFAULTS = { maxZipBytes: 64 * MiB, maxEntries: 16, maxUncompressedBytes: 200 * MiB, maxLineLength: 64 * 1024 };

/** Column names as Alipay writes them (full-width parentheses). */
export const STATEMENT_COLUMNS = {
  tradeNo: '支付宝交易号',
  outTradeNo: '商户订单号',
  kind: '业务类型',
  subject: '商品名称',
  createdAt: '创建时间',
  finishedAt: '完成时间',
  orderAmount: '订单金额（元）',
  received: '商家实收（元）',
  refundRequestNo: '退款批次号/请求号',
} as const;

const REQUIRED = ['tradeNo', 'outTradeNo', 'kind', 'orderAmount', 'received'] as const;
const KINDS: Record<string, StatementRow['kind']> = { 交易: 'PAYMENT', 退款: 'REFUND' };

const DETAIL_NAME = /^(.*)_([0-9]{8})_业务明细\.csv$/;

/** Alipay's padding: spaces, tabs (often before or after numbers and ids), no-break and ideographic spaces. */
const trim = (text: string) => text.replace(/^[ \t\u00a0\u3000\ufeff]+|[ \t\u00a0\u3000]+$/g, '');

/** A value for a message: quoted, cut short, without control characters. */
const show = (text: string) => JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);

/** Header names compared after trimming, with ASCII parentheses read as Alipay's full-width ones. */
const headerName = (text: string) => trim(text).replace(/\(/g, '（').replace(/\)/g, '）');

const AMOUNT = /^(-)?(0|[1-9][0-9]{0,14})(?:\.([0-9]{1,2}))?$/;

/** Yuan text (`12.3`, `-0.01`, `5`) to fen; null unless it is digits with at most two places and an optional minus. */
export function parseYuanToFen(text: string): bigint | null {
  const m = AMOUNT.exec(text);
  if (!m) return null;
  const fen = BigInt(m[2]) * 100n + BigInt((m[3] ?? '').padEnd(2, '0'));
  return m[1] ? -fen : fen;
}

/** Fen as yuan text with two places: `-30.00`. */
export function formatFen(fen: bigint): string {
  const abs = fen < 0n ? -fen : fen;
  const cents = abs % 100n;
  return `${fen < 0n ? '-' : ''}${abs / 100n}.${cents < 10n ? '0' : ''}${cents}`;
}

/** An entry's name: UTF-8 when flagged (or given in Info-ZIP's Unicode path field), else GBK as Alipay writes it. */
function entryName(entry: yauzl.Entry): string {
  const raw = entry.fileNameRaw;
  const unicode = (entry.generalPurposeBitFlag & 0x800) !== 0 || entry.extraFields.some((f) => f.id === 0x7075);
  const name = unicode ? yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, raw, entry.extraFields, false) : iconv.decode(raw, 'gbk');
  return name.replace(/\\/g, '/');
}

/** Splits one line at commas; a field that starts with `"` (after padding) is a quoted field with `""` escapes. */
export function splitFields(line: string, lineNo: number): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    let j = i;
    while (line[j] === ' ' || line[j] === '\t') j++;
    if (line[j] === '"') {
      let value = '';
      let k = j + 1;
      for (;;) {
        const q = line.indexOf('"', k);
        if (q < 0) throw new StatementError(`line ${lineNo}: a quoted field is not closed`);
        value += line.slice(k, q);
        if (line[q + 1] === '"') {
          value += '"';
          k = q + 2;
          continue;
        }
        k = q + 1;
        break;
      }
      while (line[k] === ' ' || line[k] === '\t') k++;
      if (k < line.length && line[k] !== ',') throw new StatementError(`line ${lineNo}: text after a quoted field`);
      fields.push(value);
      if (k >= line.length) return fields;
      i = k + 1;
    } else {
      const comma = line.indexOf(',', i);
      if (comma < 0) {
        fields.push(line.slice(i));
        return fields;
      }
      fields.push(line.slice(i, comma));
      i = comma + 1;
    }
  }
}

interface Line {
  no: number;
  text: string;
}

/** The entry's lines, decoded from GBK incrementally; CRLF or LF; bounded in bytes and line length. */
async function* readLines(stream: Readable, limits: { maxBytes: number; maxLineLength: number }): AsyncGenerator<Line> {
  const decoder = iconv.getDecoder('gbk');
  let bytes = 0;
  let rest = '';
  let no = 0;
  const tooLong = () => new StatementError(`line ${no + 1} is longer than ${limits.maxLineLength} characters`);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      bytes += chunk.length;
      if (bytes > limits.maxBytes) throw new StatementError(`the detail file inflates past ${limits.maxBytes} bytes (a zip bomb?)`);
      rest += decoder.write(chunk);
      let start = 0;
      for (;;) {
        const nl = rest.indexOf('\n', start);
        if (nl < 0) break;
        if (nl - start > limits.maxLineLength + 1) throw tooLong();
        no++;
        yield { no, text: rest.slice(start, rest[nl - 1] === '\r' && nl > start ? nl - 1 : nl) };
        start = nl + 1;
      }
      rest = rest.slice(start);
      if (rest.length > limits.maxLineLength + 1) throw tooLong();
    }
    rest += decoder.end() ?? '';
    if (rest.length > limits.maxLineLength) throw tooLong();
    if (rest !== '') {
      no++;
      yield { no, text: rest.endsWith('\r') ? rest.slice(0, -1) : rest };
    }
  } finally {
    stream.destroy();
  }
}

function asStatementError(err: unknown, what: string): StatementError {
  if (err instanceof StatementError) return err;
  return new StatementError(`${what}: ${(err as Error)?.message ?? String(err)}`);
}

/** Finds the detail file among the zip's entries (never the `(汇总)` summary), within the limits. */
async function findDetail(zip: yauzl.ZipFile, limits: Required<Omit<StatementOptions, 'billDate'>>): Promise<{ entry: yauzl.Entry; name: string; date: string }> {
  if (zip.entryCount > limits.maxEntries) throw new StatementError(`the zip has ${zip.entryCount} entries; a statement has a few (limit ${limits.maxEntries})`);
  const found: Array<{ entry: yauzl.Entry; name: string; date: string }> = [];
  const names: string[] = [];
  for await (const entry of zip.eachEntry()) {
    const name = entryName(entry);
    names.push(name);
    if (name.endsWith('/')) continue;
    const base = name.slice(name.lastIndexOf('/') + 1);
    const m = DETAIL_NAME.exec(base);
    if (m && !base.includes('汇总')) found.push({ entry, name: base, date: m[2] });
  }
  if (found.length === 0) {
    const list = names.slice(0, 5).map(show).join(', ') || 'none';
    throw new StatementError(`the zip holds no detail file (<userId>_<yyyymmdd>_业务明细.csv); its entries: ${list}`);
  }
  if (found.length > 1) throw new StatementError(`the zip holds ${found.length} detail files; a statement has one`);
  const { entry } = found[0];
  if (entry.isEncrypted()) throw new StatementError('the detail file is encrypted');
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) throw new StatementError(`the detail file uses compression method ${entry.compressionMethod}`);
  if (entry.uncompressedSize > limits.maxUncompressedBytes) {
    throw new StatementError(`the detail file declares ${entry.uncompressedSize} bytes, over the limit of ${limits.maxUncompressedBytes} (a zip bomb?)`);
  }
  return found[0];
}

/**
 * Opens a statement zip: checks the limits, picks the detail file, reads the comment lines and the header row.
 * Throws a StatementError for anything that is not a readable Alipay statement; rows are read lazily (see
 * `Statement.rows`).
 */
export async function openStatement(zipBytes: Buffer, options: StatementOptions = {}): Promise<Statement> {
  const limits = {
    maxZipBytes: options.maxZipBytes ?? DEFAULTS.maxZipBytes,
    maxEntries: options.maxEntries ?? DEFAULTS.maxEntries,
    maxUncompressedBytes: options.maxUncompressedBytes ?? DEFAULTS.maxUncompressedBytes,
    maxLineLength: options.maxLineLength ?? DEFAULTS.maxLineLength,
  };
  if (zipBytes.length > limits.maxZipBytes) throw new StatementError(`the zip is ${zipBytes.length} bytes, over the limit of ${limits.maxZipBytes}`);
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(zipBytes, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, strictFileNames: false });
  } catch (err) {
    throw new StatementError(`not a zip file (${(err as Error).message})`);
  }
  let detail;
  let stream: Readable;
  try {
    detail = await findDetail(zip, limits);
    stream = await zip.openReadStreamPromise(detail.entry);
  } catch (err) {
    zip.close();
    throw asStatementError(err, 'the zip cannot be read');
  }
  const billDate = `${detail.date.slice(0, 4)}-${detail.date.slice(4, 6)}-${detail.date.slice(6, 8)}`;
  if (options.billDate !== undefined && options.billDate !== billDate) {
    stream.destroy();
    zip.close();
    throw new StatementError(`the detail file ${show(detail.name)} is for ${billDate}, not ${options.billDate}`);
  }
  const lines = readLines(stream, { maxBytes: limits.maxUncompressedBytes, maxLineLength: limits.maxLineLength });
  const close = () => {
    void lines.return(undefined);
    stream.destroy();
    zip.close();
  };

  // The comment lines and the header row.
  let account: string | null = null;
  let header: string[] | null = null;
  try {
    for (;;) {
      const next = await lines.next();
      if (next.done) throw new StatementError('the detail file has no header row');
      const text = trim(next.value.text);
      if (text === '') continue;
      if (text.startsWith('#')) {
        const m = /^#账号[：:]\s*\[([^\]]*)\]/.exec(text);
        if (m) account = m[1].trim();
        continue;
      }
      header = splitFields(next.value.text, next.value.no).map(headerName);
      break;
    }
  } catch (err) {
    close();
    throw asStatementError(err, 'the detail file cannot be read');
  }
  const index = {} as Record<keyof typeof STATEMENT_COLUMNS, number>;
  for (const [key, name] of Object.entries(STATEMENT_COLUMNS) as Array<[keyof typeof STATEMENT_COLUMNS, string]>) index[key] = header.indexOf(name);
  const missing = REQUIRED.filter((key) => index[key] < 0).map((key) => STATEMENT_COLUMNS[key]);
  if (missing.length) {
    close();
    throw new StatementError(`the detail file's header lacks ${missing.join(', ')} (it has ${header.slice(0, 30).map(show).join(', ')})`);
  }

  let totals: StatementTotals | null = null;
  let started = false;
  const columns = header.length;

  async function* rows(): AsyncGenerator<StatementRow> {
    if (started) throw new StatementError('the rows of a statement can be read once');
    started = true;
    const counted = { PAYMENT: { count: 0, receivedFen: 0n }, REFUND: { count: 0, receivedFen: 0n } };
    const said: Partial<Record<'PAYMENT' | 'REFUND', StatementTotalsLine>> = {};
    let exportedAt: string | null = null;
    let ended = false;
    try {
      for await (const { no, text: raw } of lines) {
        const text = trim(raw);
        if (text === '') continue;
        if (text.startsWith('#')) {
          if (/^#-+.*结束/.test(text)) ended = true;
          const t = /^#+(交易|退款)合计[：:]\s*([0-9]{1,12})\s*笔/.exec(text);
          if (t) {
            const kind = t[1] === '交易' ? 'PAYMENT' : 'REFUND';
            if (said[kind]) throw new StatementError(`line ${no}: a second #${t[1]}合计 line`);
            const sum = /商家实收(?:退款)?共\s*(-?[0-9.]+)\s*元/.exec(text);
            const receivedFen = sum ? parseYuanToFen(sum[1]) : null;
            if (sum && receivedFen === null) throw new StatementError(`line ${no}: the #${t[1]}合计 sum ${show(sum[1])} is not an amount`);
            said[kind] = { count: Number(t[2]), receivedFen };
            continue;
          }
          const e = /^#导出时间[：:]\s*\[([^\]]*)\]/.exec(text);
          if (e) exportedAt = e[1].trim();
          continue;
        }
        if (ended) throw new StatementError(`line ${no}: a row after the end of the list`);
        const row = readRow(raw, no);
        counted[row.kind].count++;
        counted[row.kind].receivedFen += row.receivedFen;
        yield row;
      }
    } catch (err) {
      throw asStatementError(err, 'the detail file cannot be read');
    } finally {
      close();
    }
    if (!said.PAYMENT) throw new StatementError('the detail file has no #交易合计 line: it is cut short, or not a statement');
    if (!said.REFUND && counted.REFUND.count > 0) throw new StatementError(`the detail file has ${counted.REFUND.count} refund rows and no #退款合计 line`);
    const refunds = said.REFUND ?? { count: 0, receivedFen: 0n };
    for (const [kind, line, word] of [['PAYMENT', said.PAYMENT, '交易'], ['REFUND', refunds, '退款']] as const) {
      const got = counted[kind];
      if (line.count !== got.count || (line.receivedFen !== null && line.receivedFen !== got.receivedFen)) {
        const sum = line.receivedFen === null ? '' : `, 商家实收 ${formatFen(line.receivedFen)}`;
        throw new StatementError(
          `the statement's totals disagree with its rows: #${word}合计 says ${line.count}${sum}; the ${kind === 'PAYMENT' ? 'payment' : 'refund'} rows are ${got.count}, 商家实收 ${formatFen(got.receivedFen)}`,
        );
      }
    }
    totals = { payments: said.PAYMENT, refunds, exportedAt };
  }

  function readRow(raw: string, no: number): StatementRow {
    const cells = splitFields(raw, no);
    let values = cells;
    let note = '';
    if (cells.length > columns) {
      const s = index.subject;
      if (s < 0) throw new StatementError(`line ${no}: ${cells.length} fields, but the header has ${columns}`);
      const extra = cells.length - columns;
      values = [...cells.slice(0, s), cells.slice(s, s + extra + 1).join(','), ...cells.slice(s + extra + 1)];
      note = ` (the row has ${cells.length} fields for ${columns} columns: read with the extra commas in 商品名称)`;
    }
    const get = (i: number) => (i < 0 || i >= values.length ? '' : trim(values[i]));
    const fail = (message: string) => new StatementError(`line ${no}: ${message}${note}`);
    const kindText = get(index.kind);
    const kind = KINDS[kindText];
    if (!kind) throw fail(`unknown 业务类型 ${show(kindText)} (expected 交易 or 退款)`);
    const tradeNo = get(index.tradeNo);
    if (tradeNo === '') throw fail('支付宝交易号 is empty');
    const amount = (key: 'orderAmount' | 'received') => {
      const text = get(index[key]);
      const fen = parseYuanToFen(text);
      if (fen === null) throw fail(`${STATEMENT_COLUMNS[key]} ${show(text)} is not an amount in yuan (digits, at most two decimal places, an optional minus)`);
      return fen;
    };
    const time = (key: 'createdAt' | 'finishedAt') => {
      const text = get(index[key]);
      if (text === '') return null;
      if (!parseBeijingTime(text)) throw fail(`${STATEMENT_COLUMNS[key]} ${show(text)} is not a time (yyyy-MM-dd HH:mm:ss)`);
      return text;
    };
    const orderAmountFen = amount('orderAmount');
    const receivedFen = amount('received');
    const refundRequestNo = get(index.refundRequestNo);
    return {
      kind,
      tradeNo,
      outTradeNo: get(index.outTradeNo),
      subject: get(index.subject),
      createdAt: time('createdAt'),
      finishedAt: time('finishedAt'),
      orderAmountFen,
      receivedFen,
      refundRequestNo: refundRequestNo === '' ? null : refundRequestNo,
      line: no,
    };
  }

  return {
    fileName: detail.name,
    billDate,
    account,
    rows: { [Symbol.asyncIterator]: () => rows() },
    totals() {
      if (!totals) throw new StatementError('the totals are known once the rows have been read to the end');
      return totals;
    },
    close,
  };
}

/**
 * Downloads a statement zip from a `bill_download_url`: http(s) only, within a time-out for the whole transfer,
 * streamed and aborted past `maxBytes`. Messages never carry the URL (it is a short-lived credential).
 */
export async function downloadStatement(url: string, options: DownloadOptions = {}): Promise<Buffer> {
  const maxBytes = options.maxBytes ?? DEFAULTS.maxZipBytes;
  const timeoutMs = options.timeoutMs ?? 60_000;
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    throw new StatementDownloadError('the statement link is not a URL');
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw new StatementDownloadError('the statement link is not http(s)');
  const signal = AbortSignal.timeout(timeoutMs);
  const failed = (err: unknown) =>
    err instanceof StatementDownloadError
      ? err
      : new StatementDownloadError(signal.aborted ? `the statement download timed out after ${timeoutMs} ms` : 'the statement could not be downloaded');
  let response: Response;
  try {
    response = await fetch(target, { signal, redirect: 'follow', headers: { accept: 'application/zip, application/octet-stream, */*' } });
  } catch (err) {
    throw failed(err);
  }
  const body = response.body;
  try {
    if (target.protocol === 'https:' && !response.url.startsWith('https:')) throw new StatementDownloadError('the statement link redirected from https to http');
    if (response.status !== 200) throw new StatementDownloadError(`the statement download answered HTTP ${response.status}`, response.status);
    const declared = Number(response.headers.get('content-length') ?? 0);
    if (declared > maxBytes) throw new StatementDownloadError(`the statement is ${declared} bytes, over the limit of ${maxBytes}`, response.status);
    const chunks: Uint8Array[] = [];
    let size = 0;
    if (body) {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        size += chunk.length;
        if (size > maxBytes) throw new StatementDownloadError(`the statement is over the limit of ${maxBytes} bytes`, response.status);
        chunks.push(chunk);
      }
    }
    return Buffer.concat(chunks, size);
  } catch (err) {
    await body?.cancel().catch(() => undefined);
    throw failed(err);
  }
}
