import { Arg, Args, ArgsType, Ctx, Field, FieldResolver, Int, Mutation, ObjectType, Query, Resolver, Root } from 'type-graphql';
import { signedIn, type AppContext } from '../graphql/context';
import { PageInfo } from '../orders/order.connection';
import { ReconciliationLine, ReconciliationReport } from './reconciliation.entities';
import type { ReconciliationLineRecord, ReconciliationReportRecord } from './reconciliation.service';

@ArgsType()
class ReportsArgs {
  @Field(() => Int, { nullable: true, description: 'How many, 1–100 (default 20)' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: 'The endCursor of the previous page' })
  after?: string | null;
}

@ObjectType('ReconciliationReportEdge')
class ReconciliationReportEdge {
  @Field()
  cursor!: string;

  @Field(() => ReconciliationReport)
  node!: ReconciliationReportRecord;
}

@ObjectType('ReconciliationReportConnection', { description: 'Reconciliation runs, newest first' })
class ReconciliationReportConnection {
  @Field(() => [ReconciliationReportEdge])
  edges!: ReconciliationReportEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;
}

/** The daily reconciliation against Alipay's statement (admin only; thin: the service decides). */
@Resolver(() => ReconciliationReport)
export class ReconciliationResolver {
  @Mutation(() => ReconciliationReport, { description: "Reconciles one Beijing day (YYYY-MM-DD) against Alipay's trade statement now (admin only)" })
  reconcile(@Arg('date', () => String) date: string, @Ctx() ctx: AppContext): Promise<ReconciliationReportRecord> {
    return ctx.services.reconciliation.reconcile(signedIn(ctx), date);
  }

  @Query(() => ReconciliationReportConnection, { description: 'Reconciliation runs with their counts, newest first (admin only)' })
  reconciliationReports(@Args(() => ReportsArgs) args: ReportsArgs, @Ctx() ctx: AppContext): Promise<ReconciliationReportConnection> {
    return ctx.services.reconciliation.reports(signedIn(ctx), args.first, args.after);
  }

  @FieldResolver(() => [ReconciliationLine], { description: 'Every mismatch the run found, in the order found (up to `first`, default 100, at most 1000)' })
  lines(@Root() report: ReconciliationReportRecord, @Arg('first', () => Int, { nullable: true }) first: number | null, @Ctx() ctx: AppContext): Promise<ReconciliationLineRecord[]> {
    return ctx.services.reconciliation.lines(report.id, first);
  }
}
