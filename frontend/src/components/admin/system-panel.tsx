"use client";
// What is running and what it uses: version facts and host/process figures.
import { RefreshCw } from "lucide-react";
import { ErrorState, LoadingRows } from "@/components/states";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { formatBytes, formatDuration } from "@/lib/admin";
import { api, unwrap } from "@/lib/api/client";
import { formatNumber } from "@/lib/format";
import { useApi } from "@/lib/use-api";
import { Facts } from "./common";

export function SystemPanel() {
  const version = useApi("system-version", (signal) => unwrap(api.GET("/api/v1/system/version", { signal })));
  const stats = useApi("system-stats", (signal) => unwrap(api.GET("/api/v1/system/stats", { signal })));

  return (
    <div className="grid gap-6 md:grid-cols-2 [&>*]:min-w-0">
      <Card>
        <CardHeader>
          <CardTitle>Version</CardTitle>
          <CardDescription>What is deployed.</CardDescription>
        </CardHeader>
        <CardContent>
          {version.loading ? <LoadingRows rows={4} label="Loading the version" /> : null}
          {version.error ? <ErrorState error={version.error} retry={version.reload} /> : null}
          {version.data ? (
            <Facts
              items={[
                ["Name", version.data.name],
                ["Version", version.data.version],
                ["Environment", version.data.environment],
                ["Python", version.data.python],
                ["Database", version.data.database],
                ["Redis", version.data.redis ? "yes" : "no"],
              ]}
            />
          ) : null}
        </CardContent>
      </Card>
      <Card>
        <CardHeader className="flex-row items-start justify-between gap-2">
          <div className="flex flex-col gap-1">
            <CardTitle>Resources</CardTitle>
            <CardDescription>This server process and its host.</CardDescription>
          </div>
          <Button variant="outline" size="sm" onClick={stats.reload}>
            <RefreshCw aria-hidden /> Refresh
          </Button>
        </CardHeader>
        <CardContent>
          {stats.loading ? <LoadingRows rows={6} label="Loading resource figures" /> : null}
          {stats.error ? <ErrorState error={stats.error} retry={stats.reload} /> : null}
          {stats.data ? (
            <Facts
              items={[
                ["Uptime", formatDuration(stats.data.uptime_seconds)],
                ["Process id", stats.data.pid],
                ["Process memory", formatBytes(stats.data.process_rss_bytes)],
                ["CPUs", formatNumber(stats.data.cpu_count)],
                [
                  "Load average",
                  stats.data.load_average.length > 0
                    ? stats.data.load_average
                        .map((value) => formatNumber(value, { maximumFractionDigits: 2 }))
                        .join(" · ") + " (1, 5, 15 min)"
                    : "—",
                ],
                [
                  "Memory",
                  `${formatBytes(stats.data.memory_available_bytes)} free of ${formatBytes(stats.data.memory_total_bytes)}`,
                ],
                ["Disk free", formatBytes(stats.data.disk_free_bytes)],
              ]}
            />
          ) : null}
        </CardContent>
      </Card>
    </div>
  );
}
