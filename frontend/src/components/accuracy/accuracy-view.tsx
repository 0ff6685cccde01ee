"use client";
import { AlertTriangle, ArrowDown, ArrowUp, ArrowUpDown } from "lucide-react";
import Link from "next/link";
import { useMemo, useState } from "react";
import {
  filterScores,
  horizonsOf,
  scoreRows,
  sortScores,
  type AccuracyRow,
  type ScoreRow,
  type Sort,
  type SortKey,
} from "@/lib/accuracy";
import { api, unwrap, type Schemas } from "@/lib/api/client";
import { formatNumber } from "@/lib/format";
import { pageInfo, pageItems } from "@/lib/paging";
import { percentWords, type Coverage } from "@/lib/skill";
import { useApi } from "@/lib/use-api";
import { Pager } from "../pager";
import { EmptyState, ErrorState, LoadingRows, PageHeader } from "../states";
import { Time } from "../time";
import { Badge } from "../ui/badge";
import { Button } from "../ui/button";
import { Card, CardContent } from "../ui/card";
import { Field } from "../ui/field";
import { Input, NativeSelect } from "../ui/input";
import { Table, TableBody, TableCell, TableHead, TableHeader, TableRow } from "../ui/table";

const PAGE_SIZE = 25;
const REFRESH_MS = 5 * 60_000;
/** The server's page limit; the scoreboard is read whole so sorting covers every row. */
const API_LIMIT = 500;
const MAX_ROWS = 10_000;

async function everyRow(signal: AbortSignal): Promise<AccuracyRow[]> {
  const rows: AccuracyRow[] = [];
  for (;;) {
    const page = await unwrap(
      api.GET("/api/v1/forecasts/accuracy", {
        params: { query: { limit: API_LIMIT, offset: rows.length } },
        signal,
      }),
    );
    rows.push(...page.items);
    if (page.items.length === 0 || rows.length >= page.total || rows.length >= MAX_ROWS) return rows;
  }
}

async function catalogue(signal: AbortSignal): Promise<Schemas["CoinRead"][]> {
  const page = await unwrap(api.GET("/api/v1/coins", { params: { query: { limit: 500 } }, signal }));
  return page.items;
}

function horizonLabel(days: number): string {
  return `${days} day${days === 1 ? "" : "s"}`;
}

function CoverageCell({ coverage }: { coverage: Coverage | null }) {
  if (coverage === null) return <span className="text-muted-foreground">—</span>;
  const observed = percentWords(coverage.observed);
  const band = coverage.band
    ? ` (expected between ${percentWords(coverage.band[0])} and ${percentWords(coverage.band[1])})`
    : "";
  const outcomes = coverage.n === null ? "the outcomes" : `${formatNumber(coverage.n)} outcomes`;
  const title = `${observed} of ${outcomes} fell inside the ${percentWords(coverage.nominal)} interval${band}`;
  return (
    <span title={title} className="inline-flex items-center gap-1">
      {observed}
      {coverage.inBand === false ? (
        <>
          <AlertTriangle aria-hidden className="size-3.5 text-negative" />
          <span className="sr-only">outside its expected range</span>
        </>
      ) : null}
    </span>
  );
}

function SortHeader({
  label,
  column,
  sort,
  onSort,
  align = "left",
}: {
  label: string;
  column: SortKey;
  sort: Sort;
  onSort: (sort: Sort) => void;
  align?: "left" | "right";
}) {
  const active = sort.key === column;
  const Icon = !active ? ArrowUpDown : sort.direction === "ascending" ? ArrowUp : ArrowDown;
  return (
    <TableHead scope="col" aria-sort={active ? sort.direction : undefined} className={align === "right" ? "text-right" : undefined}>
      <button
        type="button"
        onClick={() =>
          onSort({
            key: column,
            direction: active && sort.direction === "ascending" ? "descending" : "ascending",
          })
        }
        className="inline-flex items-center gap-1 rounded-sm font-medium hover:text-foreground focus-visible:outline-2 focus-visible:outline-ring"
      >
        {label}
        <Icon aria-hidden className={active ? "size-3.5 text-foreground" : "size-3.5 opacity-50"} />
      </button>
    </TableHead>
  );
}

function ScoreTableRow({ score }: { score: ScoreRow }) {
  const { row, figures, verdict } = score;
  const tone = verdict.tone === "positive" ? "positive" : verdict.tone === "negative" ? "negative" : "secondary";
  return (
    <TableRow>
      <TableCell>
        <Link href={`/coin?id=${encodeURIComponent(row.coin)}`} className="font-medium hover:underline">
          {score.coinName}
        </Link>
      </TableCell>
      <TableCell>{horizonLabel(row.horizon)}</TableCell>
      <TableCell>
        <span className="inline-flex items-center gap-2" title={verdict.detail}>
          <span className="w-12 text-right tabular-nums">
            {figures?.maeRatio == null ? "—" : formatNumber(figures.maeRatio, { maximumFractionDigits: 3 })}
          </span>
          <Badge variant={tone}>{verdict.word}</Badge>
        </span>
      </TableCell>
      <TableCell>
        <span className="inline-flex items-center gap-2">
          <span>
            {row.model.kind} <span className="text-muted-foreground">v{row.model.version}</span>
          </span>
          {row.status !== "production" ? (
            <Badge variant="outline" title={`This version is ${row.status}`}>
              {row.status}
            </Badge>
          ) : null}
        </span>
      </TableCell>
      <TableCell className="text-right tabular-nums">{formatNumber(figures?.n ?? 0)}</TableCell>
      <TableCell className="text-right tabular-nums">
        <CoverageCell coverage={figures?.coverage80 ?? null} />
      </TableCell>
      <TableCell className="text-right tabular-nums">
        <CoverageCell coverage={figures?.coverage95 ?? null} />
      </TableCell>
      <TableCell>
        <Time iso={row.updated_at} />
      </TableCell>
    </TableRow>
  );
}

/** The Accuracy page: every scored model's live record against naive. */
export function AccuracyView() {
  const rows = useApi("accuracy:all", everyRow, REFRESH_MS);
  const coins = useApi("coins:catalogue", catalogue);
  const [horizon, setHorizon] = useState<number | null>(null);
  const [query, setQuery] = useState("");
  const [sort, setSort] = useState<Sort>({ key: "coin", direction: "ascending" });
  const [page, setPage] = useState(1);

  const names = useMemo(
    () => new Map((coins.data ?? []).map((coin) => [coin.coingecko_id, coin.name])),
    [coins.data],
  );
  const symbols = useMemo(
    () => new Map((coins.data ?? []).map((coin) => [coin.coingecko_id, coin.symbol])),
    [coins.data],
  );
  const scores = useMemo(() => scoreRows(rows.data ?? [], names), [rows.data, names]);
  const shown = useMemo(
    () => sortScores(filterScores(scores, { horizon, query }, symbols), sort),
    [scores, horizon, query, symbols, sort],
  );
  const horizons = useMemo(() => horizonsOf(rows.data ?? []), [rows.data]);

  const info = pageInfo(page, PAGE_SIZE, shown.length);
  const visible = pageItems(shown, info);

  let body;
  if (rows.error) {
    body = <ErrorState error={rows.error} title="Could not load the scoreboard" retry={rows.reload} />;
  } else if (!rows.data) {
    body = <LoadingRows rows={6} label="Loading the scoreboard" />;
  } else if (rows.data.length === 0) {
    body = (
      <EmptyState title="Nothing scored yet">
        Forecasts are scored once their target day has closed; the table fills in from then on.
      </EmptyState>
    );
  } else {
    body = (
      <div className="flex flex-col gap-4">
        <div className="flex flex-wrap items-end gap-3">
          <Field id="accuracy-horizon" label="Horizon" className="w-40">
            <NativeSelect
              id="accuracy-horizon"
              value={horizon ?? ""}
              onChange={(event) => {
                setHorizon(event.target.value === "" ? null : Number(event.target.value));
                setPage(1);
              }}
            >
              <option value="">All horizons</option>
              {horizons.map((days) => (
                <option key={days} value={days}>
                  {horizonLabel(days)}
                </option>
              ))}
            </NativeSelect>
          </Field>
          <Field id="accuracy-search" label="Search coins" className="w-full max-w-64">
            <Input
              id="accuracy-search"
              type="search"
              placeholder="Name, symbol or id"
              value={query}
              onChange={(event) => {
                setQuery(event.target.value);
                setPage(1);
              }}
            />
          </Field>
          <p className="pb-2 text-sm text-muted-foreground" aria-live="polite">
            {shown.length === scores.length
              ? `${formatNumber(scores.length)} rows`
              : `${formatNumber(shown.length)} of ${formatNumber(scores.length)} rows`}
          </p>
        </div>
        {shown.length === 0 ? (
          <EmptyState title="No rows match">
            <Button
              variant="outline"
              size="sm"
              onClick={() => {
                setHorizon(null);
                setQuery("");
              }}
            >
              Clear the filters
            </Button>
          </EmptyState>
        ) : (
          <Table aria-label="Live accuracy by coin and horizon">
            <TableHeader>
              <TableRow>
                <SortHeader label="Coin" column="coin" sort={sort} onSort={setSort} />
                <SortHeader label="Horizon" column="horizon" sort={sort} onSort={setSort} />
                <SortHeader label="MAE vs naive" column="ratio" sort={sort} onSort={setSort} />
                <SortHeader label="Model" column="model" sort={sort} onSort={setSort} />
                <SortHeader label="Scored" column="scored" sort={sort} onSort={setSort} align="right" />
                <SortHeader label="Coverage 80 %" column="coverage80" sort={sort} onSort={setSort} align="right" />
                <SortHeader label="Coverage 95 %" column="coverage95" sort={sort} onSort={setSort} align="right" />
                <SortHeader label="Updated" column="updated" sort={sort} onSort={setSort} />
              </TableRow>
            </TableHeader>
            <TableBody>
              {visible.map((score) => (
                <ScoreTableRow key={score.key} score={score} />
              ))}
            </TableBody>
          </Table>
        )}
        {info.pages > 1 ? (
          <Pager info={info} onPage={setPage} label="Scoreboard pages" noun="rows" className="pt-0" />
        ) : null}
      </div>
    );
  }

  return (
    <>
      <PageHeader
        title="Accuracy"
        description="How each model's live forecasts have done, scored against what prices then did."
      />
      <Card>
        <CardContent className="flex flex-col gap-4 pt-4 sm:pt-6">
          <p className="text-sm">
            <strong>MAE vs naive</strong> divides a model&apos;s mean absolute error by that of the naive
            forecast (the last price carried forward) on the same days: below 1 the model beat naive,
            above 1 naive did better. Coverage is how often the actual price fell inside the 80 % and
            95 % intervals.
          </p>
          {body}
        </CardContent>
      </Card>
    </>
  );
}
