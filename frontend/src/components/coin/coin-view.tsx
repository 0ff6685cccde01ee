"use client";
// The Coin page: latest price and changes, data quality, the price chart with the forecast
// fan, each horizon's skill and the live track record. Reads ?id= (a CoinGecko id, or a
// ticker the API resolves); an unknown coin shows the API's 404 message.
import { ArrowLeft } from "lucide-react";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { useDeferredValue, useEffect, useState } from "react";
import { api, ApiError, messageOf, unwrap } from "@/lib/api/client";
import { fetchCoin, fetchCoinForecasts, fetchLastSync } from "@/lib/api/coin";
import { formatPrice, formatRelative } from "@/lib/format";
import { useLiveEvents } from "@/lib/stream";
import { useApi } from "@/lib/use-api";
import { Change } from "../change";
import { EmptyState, ErrorState, PageHeader } from "../states";
import { Time } from "../time";
import { Button } from "../ui/button";
import { Skeleton } from "../ui/skeleton";
import { DataQualityBadge } from "./data-quality";
import { PriceSection } from "./price-section";
import { SkillPanel } from "./skill-panel";
import { TrackRecord } from "./track-record";

const EVERY_MINUTE = 60_000;

function BackToMarkets() {
  return (
    <Button asChild variant="ghost" size="sm">
      <Link href="/">
        <ArrowLeft aria-hidden /> Markets
      </Link>
    </Button>
  );
}

export function CoinView() {
  const id = useSearchParams().get("id")?.trim() ?? "";
  if (!id) {
    return (
      <>
        <PageHeader title="Coin" actions={<BackToMarkets />} />
        <EmptyState title="No coin is chosen">
          <Link href="/" className="text-primary underline">
            Pick one from the markets
          </Link>
        </EmptyState>
      </>
    );
  }
  return <CoinDetails key={id} id={id} />;
}

interface LivePrice {
  price: number;
  timestamp: string;
}

function CoinDetails({ id }: { id: string }) {
  const coin = useApi(`coin:${id}`, (signal) => fetchCoin(id, signal));
  const stats = useApi(
    `stats:${id}`,
    (signal) => unwrap(api.GET("/api/v1/prices/{coin}/stats", { params: { path: { coin: id } }, signal })),
    EVERY_MINUTE,
  );
  const forecasts = useApi(`forecasts:${id}`, (signal) => fetchCoinForecasts(id, signal));
  const lastSync = useApi("last-sync", fetchLastSync, EVERY_MINUTE);
  const [live, setLive] = useState<LivePrice | null>(null);
  const [forecastEvents, setForecastEvents] = useState(0);

  const coingeckoId = coin.data?.coingecko_id ?? id;
  const { reload: reloadStats } = stats;
  const { reload: reloadForecasts } = forecasts;
  useLiveEvents([coingeckoId], {
    price: (event) => {
      if (event.coin !== coingeckoId) return;
      setLive({ price: event.price, timestamp: event.timestamp });
      reloadStats();
    },
    forecast: (event) => {
      if (event.coin !== coingeckoId) return;
      reloadForecasts();
      setForecastEvents((n) => n + 1);
    },
    missed: () => {
      reloadStats();
      reloadForecasts();
      setForecastEvents((n) => n + 1);
    },
  });

  // The skill panel renders after the chart has its data: the chart comes first.
  const deferredForecasts = useDeferredValue(forecasts.data);

  const name = coin.data?.name;
  useEffect(() => {
    if (name) document.title = `${name} · CryptoPredict`;
  }, [name]);

  if (coin.error) {
    return (
      <>
        <PageHeader title="Coin" actions={<BackToMarkets />} />
        <ErrorState
          error={coin.error}
          title="Could not load this coin"
          retry={coin.error instanceof ApiError && coin.error.status === 404 ? undefined : coin.reload}
        />
      </>
    );
  }

  const asOf = stats.data?.as_of ?? null;
  const useLive = live !== null && (asOf === null || Date.parse(live.timestamp) >= Date.parse(asOf));
  const price = useLive ? live.price : (stats.data?.last_price ?? null);
  const newest = useLive ? live.timestamp : asOf;
  const percent = (value: number | null | undefined) => (value === null || value === undefined ? null : value * 100);

  return (
    <div className="flex flex-col gap-6">
      {coin.data ? (
        <PageHeader
          title={coin.data.name}
          description={
            <>
              <span className="uppercase">{coin.data.symbol}</span>
              {coin.data.market_cap_rank !== null ? ` · #${coin.data.market_cap_rank} by market cap` : ""}
            </>
          }
          actions={<BackToMarkets />}
        />
      ) : (
        <div className="mb-6 flex flex-col gap-2" role="status" aria-label="Loading the coin">
          <Skeleton className="h-8 w-48" />
          <Skeleton className="h-4 w-24" />
        </div>
      )}

      <section aria-label="Latest price" className="-mt-4 flex flex-wrap items-end gap-x-8 gap-y-3">
        <div>
          {stats.data || live ? (
            <p className="text-3xl font-semibold tabular-nums" data-testid="coin-price">
              {formatPrice(price)}
            </p>
          ) : stats.error ? (
            <p className="text-sm text-muted-foreground">No price: {messageOf(stats.error)}</p>
          ) : (
            <Skeleton className="h-9 w-40" />
          )}
          <p className="mt-1 flex flex-wrap gap-x-3 text-sm text-muted-foreground">
            <span>
              24 h <Change value={percent(stats.data?.return_24h.value)} />
            </span>
            <span>
              7 d <Change value={percent(stats.data?.return_7d.value)} />
            </span>
            <span>
              30 d <Change value={percent(stats.data?.return_30d.value)} />
            </span>
          </p>
        </div>
        <dl className="grid grid-cols-[auto_1fr] items-center gap-x-3 gap-y-1 text-sm">
          <dt className="text-muted-foreground">Newest price</dt>
          <dd data-testid="newest-price-time">
            {newest ? (
              <>
                <Time iso={newest} /> <span className="text-muted-foreground">({formatRelative(newest)})</span>
              </>
            ) : (
              "—"
            )}
          </dd>
          <dt className="text-muted-foreground">Last sync</dt>
          <dd>
            {lastSync.data ? (
              <>
                <Time iso={lastSync.data} />{" "}
                <span className="text-muted-foreground">({formatRelative(lastSync.data)})</span>
              </>
            ) : lastSync.data === null ? (
              "none on record"
            ) : (
              "—"
            )}
          </dd>
          <dt className="text-muted-foreground">Data</dt>
          <dd>
            <DataQualityBadge
              coin={id}
              noPrices={stats.error instanceof ApiError && stats.error.status === 404 && live === null}
            />
          </dd>
        </dl>
      </section>

      <PriceSection coin={id} name={coin.data?.name ?? id} forecasts={forecasts.data} />
      <SkillPanel forecasts={{ ...forecasts, data: deferredForecasts }} />
      <TrackRecord coin={id} refreshToken={forecastEvents} />
    </div>
  );
}
