import { Field, ObjectType, registerEnumType } from 'type-graphql';

/** How the buyer pays. */
export enum PayChannel {
  PAGE = 'PAGE',
  WAP = 'WAP',
  APP = 'APP',
  QR = 'QR',
}

registerEnumType(PayChannel, {
  name: 'PayChannel',
  description: 'How the buyer pays',
  valuesConfig: {
    PAGE: { description: 'PC web: alipay.trade.page.pay; open `url` in the browser' },
    WAP: { description: 'Mobile web: alipay.trade.wap.pay; open `url` in the mobile browser' },
    APP: { description: 'Native app: alipay.trade.app.pay; pass `orderString` to the Alipay App SDK' },
    QR: { description: 'Scan to pay: alipay.trade.precreate; render `qrCode` as a QR code' },
  },
});

@ObjectType('PayLink', { description: 'A signed request that lets the buyer pay an order through Alipay' })
export class PayLink {
  @Field(() => PayChannel)
  channel!: PayChannel;

  @Field(() => String, { nullable: true, description: 'PAGE and WAP: the gateway URL to open (GET)' })
  url!: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'PAGE and WAP: an auto-submitting HTML form that POSTs the same request (for long subjects or strict proxies)',
  })
  formHtml!: string | null;

  @Field(() => String, { nullable: true, description: 'APP: the signed order string for the Alipay App SDK' })
  orderString!: string | null;

  @Field(() => String, { nullable: true, description: 'QR: the content to render as a QR code' })
  qrCode!: string | null;

  @Field(() => Date, { description: 'Alipay refuses payment after this instant (the order expires)' })
  expiresAt!: Date;
}
