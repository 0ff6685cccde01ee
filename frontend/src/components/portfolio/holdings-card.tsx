"use client";
import Link from "next/link";
import type { ReactNode } from "react";
import type { Schemas } from "@/lib/api/client";
import { formatDecimal, formatMoney } from "@/lib/decimal";
import { formatPercent } from "@/lib/format";
import { METHOD_NAMES } from "@/lib/portfolio";
import { cn } from "@/lib/utils";
import { EmptyState, ErrorState, LoadingRows } from "../states";
import { Time } from "../time";
import { Alert, AlertDescription, AlertTitle } from "../ui/alert";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../ui/table";

export type Summary = Schemas["PortfolioSummary"];

/** An amount coloured by its sign (zero and unknown stay plain). */
export function Signed({ value, children }: { value: string | null; children: ReactNode }) {
  const negative = value?.startsWith("-");
  const zero = value === null || /^-?0(\.0*)?$/.test(value);
  return (
    <span className={cn(!zero && (negative ? "text-negative" : "text-positive"))}>{children}</span>
  );
}

export function Figure({
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

function pnl(value: string | null, percent?: number | null): ReactNode {
  if (value === null) return "—";
  const share = percent === undefined || percent === null ? "" : ` (${formatPercent(percent)})`;
  return <Signed value={value}>{`${formatMoney(value, { signed: true })}${share}`}</Signed>;
}

/** What the portfolio holds, valued by the server at each coin's newest price, with P&L
 * under the portfolio's cost-basis method and whatever makes a figure incomplete. */
export function HoldingsCard({
  summary,
  error,
  loading,
  retry,
}: {
  summary: Summary | undefined;
  error: unknown;
  loading: boolean;
  retry: () => void;
}) {
  return (
    <Card>
      <CardHeader>
        <CardTitle>Holdings</CardTitle>
        <CardDescription>
          Valued at the newest stored price of each coin; cost by{" "}
          {summary ? METHOD_NAMES[summary.cost_basis_method] : "the portfolio's method"}.
        </CardDescription>
      </CardHeader>
      <CardContent className="flex flex-col gap-4">
        {error ? (
          <ErrorState error={error} title="Could not load the holdings" retry={retry} />
        ) : loading || !summary ? (
          <LoadingRows rows={3} label="Loading holdings" />
        ) : summary.holdings.length === 0 && summary.realized_pnl === "0" ? (
          <EmptyState title="Nothing held yet">Add a buy or a transfer in below, or import a CSV.</EmptyState>
        ) : (
          <>
            <dl className="grid grid-cols-2 gap-3 sm:grid-cols-3">
              <Figure label="Value">{formatMoney(summary.value)}</Figure>
              <Figure label="Unrealised P&L" note="Value less the cost of what is held">
                {pnl(summary.unrealized_pnl)}
              </Figure>
              <Figure label="Realised P&L" note="From sales, fees included">
                {pnl(summary.realized_pnl)}
              </Figure>
              <Figure label="Total P&L">{pnl(summary.total_pnl)}</Figure>
              <Figure label="Net invested" note="Money in less money out">
                {formatMoney(summary.net_invested)}
              </Figure>
              <Figure label="Fees paid">{formatMoney(summary.fees)}</Figure>
            </dl>
            {summary.warnings.length > 0 ? (
              <Alert variant="warning">
                <AlertTitle>Some figures are incomplete</AlertTitle>
                <AlertDescription>
                  <ul className="list-disc pl-5">
                    {summary.warnings.map((warning) => (
                      <li key={`${warning.code}:${warning.coin}`}>{warning.message}</li>
                    ))}
                  </ul>
                </AlertDescription>
              </Alert>
            ) : null}
            {summary.holdings.length > 0 ? (
              <Table aria-label="Holdings">
                <TableHeader>
                  <TableRow>
                    <TableHead scope="col">Coin</TableHead>
                    <TableHead scope="col" className="text-right">Quantity</TableHead>
                    <TableHead scope="col" className="text-right">Price</TableHead>
                    <TableHead scope="col" className="text-right">Value</TableHead>
                    <TableHead scope="col">Allocation</TableHead>
                    <TableHead scope="col" className="text-right">Unrealised P&L</TableHead>
                    <TableHead scope="col" className="text-right">Average cost</TableHead>
                    <TableHead scope="col" className="text-right">Cost basis</TableHead>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {summary.holdings.map((holding) => (
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
                      <TableCell className="text-right tabular-nums">
                        {holding.price === null ? (
                          "No price"
                        ) : (
                          <span className="flex flex-col items-end">
                            <span>{formatMoney(holding.price)}</span>
                            <span className="text-xs text-muted-foreground">
                              <Time iso={holding.price_at} />
                            </span>
                          </span>
                        )}
                      </TableCell>
                      <TableCell className="text-right tabular-nums" title={holding.value ?? undefined}>
                        {formatMoney(holding.value)}
                      </TableCell>
                      <TableCell>
                        {holding.allocation_percent === null ? (
                          "—"
                        ) : (
                          <span className="flex items-center gap-2">
                            <span className="h-2 w-16 overflow-hidden rounded bg-muted" aria-hidden>
                              <span
                                className="block h-full bg-primary"
                                style={{ width: `${Math.min(100, holding.allocation_percent)}%` }}
                              />
                            </span>
                            <span className="tabular-nums">
                              {formatPercent(holding.allocation_percent, { signed: false, digits: 1 })}
                            </span>
                          </span>
                        )}
                      </TableCell>
                      <TableCell className="text-right tabular-nums" title={holding.unrealized_pnl ?? undefined}>
                        {pnl(holding.unrealized_pnl, holding.unrealized_pnl_percent)}
                      </TableCell>
                      <TableCell className="text-right tabular-nums" title={holding.average_cost ?? undefined}>
                        {holding.average_cost === null ? "Unknown" : formatMoney(holding.average_cost)}
                      </TableCell>
                      <TableCell className="text-right tabular-nums" title={holding.known_cost_basis}>
                        {holding.cost_basis === null
                          ? `${formatMoney(holding.known_cost_basis)} + ${formatDecimal(holding.missing_basis_quantity)} without a cost`
                          : formatMoney(holding.cost_basis)}
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
            ) : null}
          </>
        )}
      </CardContent>
    </Card>
  );
}
