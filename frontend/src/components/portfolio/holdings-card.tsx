"use client";
import Link from "next/link";
import type { ReactNode } from "react";
import { api, unwrap } from "@/lib/api/client";
import { formatMoney, formatDecimal } from "@/lib/decimal";
import { formatPercent, formatPrice } from "@/lib/format";
import { priceQuery, valueHoldings, type Holding, type LatestPrice } from "@/lib/portfolio";
import { useApi } from "@/lib/use-api";
import { cn } from "@/lib/utils";
import { EmptyState, ErrorState, LoadingRows } from "../states";
import { Time } from "../time";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../ui/table";

async function latestPrices(holdings: Holding[], signal: AbortSignal): Promise<LatestPrice[]> {
  const answers = await Promise.all(
    priceQuery(holdings).map((coins) =>
      unwrap(api.GET("/api/v1/prices/latest", { params: { query: { coins } }, signal })),
    ),
  );
  return answers.flatMap((answer) => answer.items);
}

function Signed({ value, children }: { value: string | null; children: string }) {
  const negative = value?.startsWith("-");
  const zero = value === null || /^0(\.0*)?$/.test(value);
  return (
    <span className={cn(!zero && (negative ? "text-negative" : "text-positive"))}>{children}</span>
  );
}

function Summary({
  label,
  children,
  note,
  className,
}: {
  label: string;
  children: ReactNode;
  note?: string;
  className?: string;
}) {
  return (
    <div className={cn("flex flex-col gap-1 rounded-lg border p-3", className)}>
      <dt className="text-xs text-muted-foreground">{label}</dt>
      <dd className="text-lg font-semibold tabular-nums">{children}</dd>
      {note ? <dd className="text-xs text-muted-foreground">{note}</dd> : null}
    </div>
  );
}

/** What the portfolio holds, valued at each coin's latest stored price. */
export function HoldingsCard({
  holdings,
  error,
  loading,
  retry,
}: {
  holdings: Holding[] | undefined;
  error: unknown;
  loading: boolean;
  retry: () => void;
}) {
  const coins = holdings ? priceQuery(holdings).join(",") : null;
  const prices = useApi(
    holdings && holdings.length > 0 ? `prices:${coins}` : null,
    (signal) => latestPrices(holdings ?? [], signal),
  );
  const valuation = holdings ? valueHoldings(holdings, prices.data ?? []) : null;

  return (
    <Card>
      <CardHeader>
        <CardTitle>Holdings</CardTitle>
        <CardDescription>
          Valued at the latest stored price of each coin
          {valuation?.oldestPriceAt ? (
            <>
              {" "}
              (prices as of <Time iso={valuation.oldestPriceAt} />)
            </>
          ) : null}
          ; cost by the average-cost method.
        </CardDescription>
      </CardHeader>
      <CardContent className="flex flex-col gap-4">
        {error ? (
          <ErrorState error={error} title="Could not load the holdings" retry={retry} />
        ) : loading || !holdings || !valuation ? (
          <LoadingRows rows={3} label="Loading holdings" />
        ) : holdings.length === 0 ? (
          <EmptyState title="Nothing held yet">Add a buy or a transfer in below.</EmptyState>
        ) : (
          <>
            {prices.error ? (
              <ErrorState error={prices.error} title="Could not load the latest prices" retry={prices.reload} />
            ) : null}
            <dl className="grid grid-cols-2 gap-3 sm:grid-cols-3">
              <Summary
                label="Value"
                note={
                  valuation.priced < holdings.length
                    ? `${valuation.priced} of ${holdings.length} holdings have a price`
                    : undefined
                }
              >
                {prices.loading ? "…" : formatMoney(valuation.value)}
              </Summary>
              <Summary
                label="Cost basis"
                note={
                  valuation.costed < holdings.length
                    ? `${holdings.length - valuation.costed} without a known cost`
                    : undefined
                }
              >
                {formatMoney(valuation.costBasis)}
              </Summary>
              <Summary
                label="Unrealised P&L"
                className="col-span-2 sm:col-span-1"
                note={
                  valuation.compared < holdings.length && valuation.compared > 0
                    ? `Over the ${valuation.compared} holdings with a price and a cost`
                    : undefined
                }
              >
                {prices.loading ? (
                  "…"
                ) : (
                  <Signed value={valuation.pnl}>
                    {valuation.pnl === null
                      ? "—"
                      : `${formatMoney(valuation.pnl, { signed: true })} (${formatPercent(valuation.pnlPercent)})`}
                  </Signed>
                )}
              </Summary>
            </dl>
            <Table aria-label="Holdings">
              <TableHeader>
                <TableRow>
                  <TableHead scope="col">Coin</TableHead>
                  <TableHead scope="col" className="text-right">Quantity</TableHead>
                  <TableHead scope="col" className="text-right">Value</TableHead>
                  <TableHead scope="col" className="text-right">Unrealised P&L</TableHead>
                  <TableHead scope="col" className="text-right">Latest price</TableHead>
                  <TableHead scope="col" className="text-right">Average cost</TableHead>
                  <TableHead scope="col" className="text-right">Cost basis</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                {valuation.rows.map(({ holding, price, priceAt, value, pnl, pnlPercent }) => (
                  <TableRow key={holding.coin.id}>
                    <TableCell>
                      <Link
                        href={`/coin?id=${encodeURIComponent(holding.coin.coingecko_id)}`}
                        className="font-medium hover:underline"
                      >
                        {holding.coin.name}
                      </Link>{" "}
                      <span className="text-xs text-muted-foreground uppercase">{holding.coin.symbol}</span>
                    </TableCell>
                    <TableCell className="text-right tabular-nums">{formatDecimal(holding.quantity)}</TableCell>
                    <TableCell className="text-right tabular-nums" title={value ?? undefined}>
                      {prices.loading ? "…" : formatMoney(value)}
                    </TableCell>
                    <TableCell className="text-right tabular-nums" title={pnl ?? undefined}>
                      {prices.loading ? (
                        "…"
                      ) : pnl === null ? (
                        "—"
                      ) : (
                        <Signed value={pnl}>
                          {`${formatMoney(pnl, { signed: true })} (${formatPercent(pnlPercent)})`}
                        </Signed>
                      )}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {prices.loading ? (
                        "…"
                      ) : price === null ? (
                        "No price"
                      ) : (
                        <span className="flex flex-col items-end">
                          <span>{formatPrice(price)}</span>
                          <span className="text-xs text-muted-foreground">
                            <Time iso={priceAt} />
                          </span>
                        </span>
                      )}
                    </TableCell>
                    <TableCell className="text-right tabular-nums" title={holding.average_cost ?? undefined}>
                      {holding.average_cost === null ? "Unknown" : formatMoney(holding.average_cost)}
                    </TableCell>
                    <TableCell className="text-right tabular-nums" title={holding.cost_basis ?? undefined}>
                      {holding.cost_basis === null ? "Unknown" : formatMoney(holding.cost_basis)}
                    </TableCell>
                  </TableRow>
                ))}
              </TableBody>
            </Table>
          </>
        )}
      </CardContent>
    </Card>
  );
}
