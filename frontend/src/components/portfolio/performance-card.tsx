"use client";
import { useState } from "react";
import { api, unwrap } from "@/lib/api/client";
import { formatMoney } from "@/lib/decimal";
import { formatDate, formatPercent } from "@/lib/format";
import { bandRow, percentOf, performanceFigures, RANGES, type PerformanceRange } from "@/lib/portfolio";
import { useApi } from "@/lib/use-api";
import { ErrorState, LoadingRows } from "../states";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../ui/table";
import { ToggleGroup, ToggleGroupItem } from "../ui/toggle-group";
import { GrowthChart } from "./growth-chart";
import { Figure, Signed } from "./holdings-card";

const BENCHMARKS = "bitcoin,ethereum";

/** Returns over a range next to bitcoin and ethereum held over the same days. */
export function PerformanceCard({ portfolioId, refresh }: { portfolioId: number; refresh: string }) {
  const [range, setRange] = useState<Exclude<PerformanceRange, "custom">>("30D");
  const performance = useApi(`performance:${portfolioId}:${range}:${refresh}`, (signal) =>
    unwrap(
      api.GET("/api/v1/portfolios/{portfolio_id}/performance", {
        params: { path: { portfolio_id: portfolioId }, query: { range, benchmarks: BENCHMARKS } },
        signal,
      }),
    ),
  );
  const data = performance.data;
  return (
    <Card>
      <CardHeader className="flex flex-row flex-wrap items-start justify-between gap-3">
        <div>
          <CardTitle>Performance</CardTitle>
          <CardDescription>
            {data
              ? `${formatDate(data.start)} to ${formatDate(data.end)}, ${data.days} day${data.days === 1 ? "" : "s"}; days end at midnight UTC, today is valued live.`
              : "Returns over the range, next to coins held over the same days."}
          </CardDescription>
        </div>
        <ToggleGroup
          type="single"
          aria-label="Range"
          value={range}
          onValueChange={(value) => {
            if (value) setRange(value as typeof range);
          }}
        >
          {RANGES.map((r) => (
            <ToggleGroupItem key={r} value={r}>
              {r === "ALL" ? "All" : r}
            </ToggleGroupItem>
          ))}
        </ToggleGroup>
      </CardHeader>
      <CardContent className="flex flex-col gap-4">
        {performance.error ? (
          <ErrorState error={performance.error} title="Could not load the performance" retry={performance.reload} />
        ) : !data ? (
          <LoadingRows rows={3} label="Loading performance" />
        ) : (
          <>
            {data.pending_from ? (
              <p className="text-sm text-muted-foreground">
                The daily history from {formatDate(data.pending_from)} on is being rebuilt after a change; figures
                update within a minute.
              </p>
            ) : null}
            <dl className="grid grid-cols-2 gap-3 sm:grid-cols-3" aria-label="Performance figures">
              {performanceFigures(data).map((figure) => (
                <Figure key={figure.key} label={figure.label} note={figure.definition}>
                  <Signed value={figure.percent === null ? null : String(figure.percent)}>
                    {formatPercent(figure.percent)}
                  </Signed>
                </Figure>
              ))}
              <Figure label="Absolute gain" note={data.definitions?.absolute_gain}>
                <Signed value={data.absolute_gain}>{formatMoney(data.absolute_gain, { signed: true })}</Signed>
              </Figure>
            </dl>
            {data.series_days.length > 1 ? (
              <GrowthChart
                days={data.series_days}
                series={[
                  { label: "This portfolio", growth: data.growth },
                  ...data.benchmarks.map((b) => ({ label: b.coin.name, growth: b.growth })),
                ]}
                label={`This portfolio's time-weighted return against ${data.benchmarks.map((b) => b.coin.name).join(" and ")}, day by day`}
              />
            ) : null}
            <Table aria-label="Benchmarks">
              <TableHeader>
                <TableRow>
                  <TableHead scope="col">Held over the same days</TableHead>
                  <TableHead scope="col" className="text-right">Return</TableHead>
                  <TableHead scope="col" className="text-right">Max drawdown</TableHead>
                  <TableHead scope="col" className="text-right">Volatility</TableHead>
                </TableRow>
              </TableHeader>
              <TableBody>
                <TableRow>
                  <TableCell className="font-medium">This portfolio (time-weighted)</TableCell>
                  <TableCell className="text-right tabular-nums">{formatPercent(percentOf(data.twr))}</TableCell>
                  <TableCell className="text-right tabular-nums">
                    {formatPercent(percentOf(data.max_drawdown))}
                  </TableCell>
                  <TableCell className="text-right tabular-nums">
                    {formatPercent(percentOf(data.volatility), { signed: false })}
                  </TableCell>
                </TableRow>
                {data.benchmarks.map((benchmark) => (
                  <TableRow key={benchmark.coin.id}>
                    <TableCell>{benchmark.coin.name}</TableCell>
                    <TableCell className="text-right tabular-nums">
                      {formatPercent(percentOf(benchmark.total_return))}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {formatPercent(percentOf(benchmark.max_drawdown))}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">
                      {formatPercent(percentOf(benchmark.volatility), { signed: false })}
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

/** Where the portfolio's value may be at each served horizon, and how that was worked out. */
export function ForecastBandCard({ portfolioId, refresh }: { portfolioId: number; refresh: string }) {
  const band = useApi(`band:${portfolioId}:${refresh}`, (signal) =>
    unwrap(
      api.GET("/api/v1/portfolios/{portfolio_id}/forecast", {
        params: { path: { portfolio_id: portfolioId } },
        signal,
      }),
    ),
  );
  const data = band.data;
  return (
    <Card>
      <CardHeader>
        <CardTitle>Value forecast</CardTitle>
        <CardDescription>{data ? data.description : "From each coin's served forecast."}</CardDescription>
      </CardHeader>
      <CardContent>
        {band.error ? (
          <ErrorState error={band.error} title="Could not load the forecast band" retry={band.reload} />
        ) : !data ? (
          <LoadingRows rows={3} label="Loading the forecast band" />
        ) : (
          <Table aria-label="Value forecast">
            <TableHeader>
              <TableRow>
                <TableHead scope="col">Horizon</TableHead>
                <TableHead scope="col" className="text-right">5 %</TableHead>
                <TableHead scope="col" className="text-right">Median</TableHead>
                <TableHead scope="col" className="text-right">95 %</TableHead>
                <TableHead scope="col">Drawn from a forecast</TableHead>
              </TableRow>
            </TableHeader>
            <TableBody>
              {data.bands.map((row) => {
                const { low, median, high } = bandRow(row);
                return (
                  <TableRow key={row.horizon}>
                    <TableCell>
                      {row.horizon} day{row.horizon === 1 ? "" : "s"}
                    </TableCell>
                    <TableCell className="text-right tabular-nums">{formatMoney(low)}</TableCell>
                    <TableCell className="text-right tabular-nums">{formatMoney(median)}</TableCell>
                    <TableCell className="text-right tabular-nums">{formatMoney(high)}</TableCell>
                    <TableCell className="text-sm text-muted-foreground">
                      {row.forecast_coins.length === 0 ? "none: today's value" : row.forecast_coins.join(", ")}
                      {row.flat_coins.length > 0 && row.forecast_coins.length > 0
                        ? `; held flat: ${row.flat_coins.join(", ")}`
                        : ""}
                    </TableCell>
                  </TableRow>
                );
              })}
            </TableBody>
          </Table>
        )}
      </CardContent>
    </Card>
  );
}
