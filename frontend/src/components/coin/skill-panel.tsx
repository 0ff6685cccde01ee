"use client";
// Each horizon's forecast and what its figures say: the server's verdict, the backtest and
// live record next to naive's, in plain words and in a small table. It never claims more
// skill than the figures show; a figure not measured yet says so.
import { AlertTriangle } from "lucide-react";
import { ApiError, type Schemas } from "@/lib/api/client";
import {
  backtestFigures,
  backtestSentence,
  coverageSentence,
  liveFigures,
  liveSentence,
  probabilitySentence,
  percentWords,
  type BacktestFigures,
  type Coverage,
  type LiveFigures,
} from "@/lib/skill";
import { formatNumber, formatPrice } from "@/lib/format";
import type { Loaded } from "@/lib/use-api";
import { EmptyState, ErrorState, LoadingRows } from "../states";
import { Time } from "../time";
import { Badge } from "../ui/badge";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../ui/card";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../ui/table";

type Forecast = Schemas["Forecast"];
type CoinForecasts = Schemas["CoinForecasts"];

const dash = "—";
const twoDecimals = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const ratio = (value: number | null) => (value === null ? dash : `${twoDecimals.format(value)} ×`);
const share = (value: number | null) => (value === null ? dash : percentWords(value));
const coverage = (value: Coverage | null) => (value === null ? dash : percentWords(value.observed));
const count = (value: number | null) => (value === null ? dash : formatNumber(value, { maximumFractionDigits: 0 }));

function horizonName(days: number): string {
  return days === 1 ? "1-day" : `${days}-day`;
}

function Figures({
  kind,
  backtest,
  live,
  naive,
}: {
  kind: string;
  backtest: BacktestFigures | null;
  live: LiveFigures | null;
  naive: LiveFigures | null;
}) {
  const rows: [string, string, string, string][] = [
    ["Forecasts", count(backtest?.n ?? null), count(live?.n ?? null), count(naive?.n ?? null)],
    [
      "Mean abs. error",
      formatPrice(backtest?.mae ?? null),
      formatPrice(live?.mae ?? null),
      formatPrice(naive?.mae ?? null),
    ],
    ["MAE ÷ naive's", ratio(backtest?.maeRatio ?? null), ratio(live?.maeRatio ?? null), naive ? ratio(1) : dash],
    ["In 80 % range", share(backtest?.coverage80 ?? null), coverage(live?.coverage80 ?? null), coverage(naive?.coverage80 ?? null)],
    ["In 95 % range", share(backtest?.coverage95 ?? null), coverage(live?.coverage95 ?? null), coverage(naive?.coverage95 ?? null)],
  ];
  return (
    <Table aria-label={`Figures of the ${kind} model next to naive's`} className="text-xs">
      <TableHeader>
        <TableRow className="hover:bg-transparent">
          <TableHead className="h-8 px-1.5">Figure</TableHead>
          <TableHead className="h-8 px-1.5 text-right">Backtest</TableHead>
          <TableHead className="h-8 px-1.5 text-right">Live</TableHead>
          <TableHead className="h-8 px-1.5 text-right">Naive live</TableHead>
        </TableRow>
      </TableHeader>
      <TableBody>
        {rows.map(([name, ...values]) => (
          <TableRow key={name}>
            <TableHead scope="row" className="h-auto px-1.5 py-1.5 font-normal">
              {name}
            </TableHead>
            {values.map((value, index) => (
              <TableCell key={index} className="px-1.5 py-1.5 text-right tabular-nums">
                {value}
              </TableCell>
            ))}
          </TableRow>
        ))}
      </TableBody>
    </Table>
  );
}

const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1);

function HorizonCard({ forecast }: { forecast: Forecast }) {
  const kind = forecast.model.kind;
  // The bounds come from the interval method chosen at training when the API names its
  // record: its backtest coverage, not the point model's own conformal one, is what they earn.
  const intervals = forecast.skill.intervals ?? null;
  const modelBacktest = backtestFigures(forecast.skill.backtest);
  const backtest =
    modelBacktest && intervals
      ? { ...modelBacktest, coverage80: intervals.coverage_80, coverage95: intervals.coverage_95 }
      : modelBacktest;
  const live = liveFigures(forecast.skill.live);
  const naive = liveFigures(forecast.skill.naive_live);
  const backtestCoverage = coverageSentence(backtest?.coverage80 ?? null, backtest?.coverage95 ?? null);
  const liveCoverage = coverageSentence(live?.coverage80?.observed ?? null, live?.coverage95?.observed ?? null);
  const id = `horizon-${forecast.horizon}`;
  return (
    <Card aria-labelledby={id} data-horizon={forecast.horizon} className="min-w-0">
      <CardHeader>
        <CardTitle id={id}>{horizonName(forecast.horizon)} forecast</CardTitle>
        <CardDescription>
          For <Time iso={forecast.target_at} dateOnly />, from the close of <Time iso={forecast.origin_at} dateOnly /> at{" "}
          {formatPrice(forecast.origin_price)}
        </CardDescription>
      </CardHeader>
      <CardContent className="flex flex-col gap-3 text-sm">
        <div>
          <p className="text-2xl font-semibold tabular-nums">{formatPrice(forecast.point)}</p>
          <dl className="mt-1 grid grid-cols-[auto_1fr] gap-x-3 text-muted-foreground">
            <dt>80 % range</dt>
            <dd className="tabular-nums">
              {forecast.interval_80
                ? `${formatPrice(forecast.interval_80.lower)} – ${formatPrice(forecast.interval_80.upper)}`
                : "not calibrated yet"}
            </dd>
            <dt>95 % range</dt>
            <dd className="tabular-nums">
              {forecast.interval_95
                ? `${formatPrice(forecast.interval_95.lower)} – ${formatPrice(forecast.interval_95.upper)}`
                : "not calibrated yet"}
            </dd>
          </dl>
        </div>
        <div className="flex flex-wrap gap-1.5">
          <Badge variant="outline">
            {kind} v{forecast.model.version}
          </Badge>
          {forecast.stale ? (
            <Badge variant="warning" title="The price it starts from is more than two days older than now">
              <AlertTriangle aria-hidden className="size-3" /> Stale
            </Badge>
          ) : null}
          {forecast.expired ? (
            <Badge variant="warning" title="The production model's training data is too old, so naive is served">
              <AlertTriangle aria-hidden className="size-3" /> Model expired
            </Badge>
          ) : null}
        </div>
        <div className="flex flex-col gap-1.5">
          <h3 className="font-medium">What the figures say</h3>
          <p>{backtestSentence(kind, backtest)}</p>
          {forecast.probability_up ? (
            <p data-testid="probability-up">{probabilitySentence(forecast.probability_up)}</p>
          ) : null}
          {backtestCoverage ? (
            <p data-testid="backtest-coverage">
              In backtests,{" "}
              {intervals
                ? `${lowerFirst(backtestCoverage).replace(/\.$/, "")}, for bounds made by ${intervals.method} (over ${formatNumber(intervals.origins)} forecasts).`
                : lowerFirst(backtestCoverage)}
            </p>
          ) : null}
          <p>{liveSentence(kind, live)}</p>
          {live && liveCoverage ? <p>Live, {liveCoverage.charAt(0).toLowerCase() + liveCoverage.slice(1)}</p> : null}
          <p className="text-muted-foreground">
            <span className="font-medium text-foreground">Verdict:</span> {forecast.verdict}
          </p>
        </div>
        <Figures kind={kind} backtest={backtest} live={live} naive={naive} />
      </CardContent>
    </Card>
  );
}

export function SkillPanel({ forecasts }: { forecasts: Loaded<CoinForecasts> }) {
  const { data, error, reload } = forecasts;
  let body;
  if (error instanceof ApiError && error.status === 409) {
    // Not an error of the page: the coin has no forecast yet, and the API says why.
    body = <EmptyState title="No forecast yet">{error.message}</EmptyState>;
  } else if (error) {
    body = <ErrorState error={error} title="Could not load the forecasts" retry={reload} />;
  } else if (!data) {
    body = <LoadingRows rows={3} label="Loading the forecasts" />;
  } else {
    const sorted = [...data.forecasts].sort((a, b) => a.horizon - b.horizon);
    body = (
      <div className="grid gap-4 lg:grid-cols-3">
        {sorted.map((forecast) => (
          <HorizonCard key={forecast.horizon} forecast={forecast} />
        ))}
        {data.unavailable.map((missing) => (
          <Card key={`missing-${missing.horizon}`}>
            <CardHeader>
              <CardTitle>{horizonName(missing.horizon)} forecast</CardTitle>
              <CardDescription>Not available: {missing.reason}.</CardDescription>
            </CardHeader>
          </Card>
        ))}
      </div>
    );
  }
  return (
    <section aria-labelledby="forecasts-title" className="flex flex-col gap-3">
      <div>
        <h2 id="forecasts-title" className="text-lg font-semibold">
          Forecasts and their measured skill
        </h2>
        <p className="text-sm text-muted-foreground">
          Each horizon&apos;s forecast with its backtest and live record next to naive&apos;s (tomorrow&apos;s price
          = today&apos;s close). A model shows skill only where its errors are significantly smaller.
        </p>
      </div>
      {body}
    </section>
  );
}
