import dns from 'node:dns';
import net from 'node:net';
import ipaddr from 'ipaddr.js';

/** Why a webhook URL or the address it resolves to is refused. */
export class DestinationError extends Error {}

export const MAX_URL_LENGTH = 2048;

/**
 * A webhook URL as the service accepts it: http or https, a host, no user name or password (they would be sent
 * in the clear and logged by proxies), at most 2 KB, no control characters or spaces.
 */
export function checkWebhookUrl(raw: string): URL {
  if (raw.length > MAX_URL_LENGTH) throw new DestinationError(`the URL is longer than ${MAX_URL_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0020\u007f-\u009f]/.test(raw)) throw new DestinationError('the URL has spaces or control characters');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new DestinationError('not a URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DestinationError('only http and https URLs are allowed');
  if (!url.hostname) throw new DestinationError('the URL has no host');
  if (url.username || url.password) throw new DestinationError('the URL must not carry a user name or password');
  return url;
}

/** The scheme, host and port of a URL: what a log line may say about an endpoint (its path and query may carry a token). */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '[invalid URL]';
  }
}

/** Ranges a webhook may not reach unless private destinations are allowed (ipaddr.js names them). */
const PUBLIC_RANGES = new Set(['unicast']);

/** Whether an address is on the public internet (not loopback, private, link-local, CGNAT, multicast, reserved…). */
export function isPublicAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return false;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  return PUBLIC_RANGES.has(parsed.range());
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void;

/**
 * A `lookup` for http(s).request that resolves the host and refuses, unless `allowPrivate`, any answer that is not
 * a public address. The connection then goes to exactly the address that was checked, so a DNS answer that changes
 * between a check and the connection (rebinding) cannot reach an internal host.
 */
export function guardedLookup(allowPrivate: boolean) {
  return (hostname: string, options: dns.LookupOptions, callback: LookupCallback): void => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as dns.LookupAddress[];
      const allowed = allowPrivate ? list : list.filter((a) => isPublicAddress(a.address));
      if (!allowed.length) {
        const error: NodeJS.ErrnoException = new DestinationError(`${hostname} resolves to a private, loopback or link-local address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)`);
        error.code = 'EWEBHOOKPRIVATE';
        return callback(error, '', 0);
      }
      if (options.all) return callback(null, allowed);
      callback(null, allowed[0].address, allowed[0].family);
    });
  };
}

/** Refuses, unless `allowPrivate`, a URL whose host is, or resolves only to, non-public addresses (checked when an endpoint is created). */
export async function checkReachable(url: URL, allowPrivate: boolean): Promise<void> {
  if (allowPrivate) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (net.isIP(host)) {
    if (!isPublicAddress(host)) throw new DestinationError(`${host} is a private, loopback or link-local address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)`);
    return;
  }
  let addresses: dns.LookupAddress[];
  try {
    addresses = await dns.promises.lookup(host, { all: true });
  } catch {
    throw new DestinationError(`${host} does not resolve`);
  }
  if (!addresses.some((a) => isPublicAddress(a.address))) {
    throw new DestinationError(`${host} resolves to a private, loopback or link-local address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)`);
  }
}
