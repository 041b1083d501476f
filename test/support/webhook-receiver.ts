import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

export interface Received {
  id: string;
  timestamp: string;
  signature: string;
  body: string;
  /** The payload as `standardwebhooks` verified it (null when it did not verify). */
  verified: { type: string; timestamp: string; data: Record<string, any> } | null;
  at: number;
}

/** What the receiver does with a delivery: answer a status, or hang (never answer). */
export type Behaviour = number | 'hang';

/**
 * A merchant's webhook endpoint on a real socket: verifies every delivery with the `standardwebhooks` package as it
 * is and records it; `answer` decides the reply per delivery (default 204).
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  answer: (delivery: Received, index: number) => Behaviour = () => 204;
  private readonly server: http.Server;
  private readonly hanging = new Set<http.ServerResponse>();

  private constructor(readonly secret: string) {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const headers = {
          'webhook-id': String(req.headers['webhook-id'] ?? ''),
          'webhook-timestamp': String(req.headers['webhook-timestamp'] ?? ''),
          'webhook-signature': String(req.headers['webhook-signature'] ?? ''),
        };
        let verified: Received['verified'] = null;
        try {
          verified = new Webhook(this.secret).verify(body, headers) as Received['verified'];
        } catch {
          verified = null;
        }
        const delivery: Received = { id: headers['webhook-id'], timestamp: headers['webhook-timestamp'], signature: headers['webhook-signature'], body, verified, at: Date.now() };
        this.received.push(delivery);
        const behaviour = verified ? this.answer(delivery, this.received.length - 1) : 400;
        if (behaviour === 'hang') {
          this.hanging.add(res);
          res.on('close', () => this.hanging.delete(res));
          return;
        }
        res.writeHead(behaviour, { 'content-type': 'text/plain' }).end(behaviour < 300 ? '' : `answer ${behaviour}`);
      });
    });
  }

  static async start(secret: string, port = 0): Promise<WebhookReceiver> {
    const receiver = new WebhookReceiver(secret);
    await new Promise<void>((resolve, reject) => {
      receiver.server.once('error', reject);
      receiver.server.listen(port, '127.0.0.1', () => resolve());
    });
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/webhooks`;
  }

  /** The verified deliveries of one event type. */
  ofType(type: string): Received[] {
    return this.received.filter((r) => r.verified?.type === type);
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** A Standard Webhooks secret: whsec_ + base64 of 32 random bytes. */
export function newWebhookSecret(): string {
  return `whsec_${require('node:crypto').randomBytes(32).toString('base64')}`;
}
