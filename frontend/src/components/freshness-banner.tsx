"use client";
// Old prices must not pass for live ones: when the newest stored price is older than the
// server's threshold (the offline snapshot, or syncs failing), every page says so.
import { Clock } from "lucide-react";
import { api, unwrap } from "@/lib/api/client";
import { formatRelative } from "@/lib/format";
import { useApi } from "@/lib/use-api";
import { Time } from "./time";

const EVERY_MINUTE = 60_000;

export function FreshnessBanner() {
  const { data } = useApi("freshness", () => unwrap(api.GET("/api/v1/sync/freshness")), EVERY_MINUTE);
  if (!data?.stale) return null;
  const error = data.last_sync?.status === "failed" ? data.last_sync.error : null;
  return (
    <div
      role="status"
      data-testid="stale-banner"
      className="border-b bg-warning text-warning-foreground"
    >
      <div className="mx-auto flex max-w-7xl items-start gap-2 px-3 py-2 text-sm sm:px-6">
        <Clock aria-hidden className="mt-0.5 size-4 shrink-0" />
        <p>
          {data.newest_price_at ? (
            <>
              Prices are not live: the newest stored price is from{" "}
              <strong>
                <Time iso={data.newest_price_at} />
              </strong>{" "}
              ({formatRelative(data.newest_price_at)}).
            </>
          ) : (
            <>No prices are stored yet.</>
          )}{" "}
          {error ? (
            <>
              The last sync failed: <span className="font-medium">{error}</span>
            </>
          ) : data.last_success_at ? (
            <>
              Last successful sync: <Time iso={data.last_success_at} />.
            </>
          ) : (
            <>No sync has succeeded yet.</>
          )}
        </p>
      </div>
    </div>
  );
}
