"use client";
import { formatNumber } from "@/lib/format";
import type { PageInfo } from "@/lib/paging";
import { Button } from "./ui/button";

/** "Showing 1–25 of 80" with Previous and Next. */
export function Pager({
  info,
  onPage,
  label,
  noun = "items",
}: {
  info: PageInfo;
  onPage: (page: number) => void;
  /** Names the navigation landmark, e.g. "Markets pages". */
  label: string;
  noun?: string;
}) {
  const n = (value: number) => formatNumber(value, { maximumFractionDigits: 0 });
  return (
    <nav aria-label={label} className="flex flex-wrap items-center justify-between gap-2 pt-3 text-sm">
      <p className="text-muted-foreground" aria-live="polite">
        {info.total === 0
          ? `No ${noun}`
          : `Showing ${n(info.from)}–${n(info.to)} of ${n(info.total)} ${noun}`}
      </p>
      <div className="flex gap-2">
        <Button
          variant="outline"
          size="sm"
          disabled={!info.hasPrevious}
          onClick={() => onPage(info.page - 1)}
        >
          Previous
        </Button>
        <Button variant="outline" size="sm" disabled={!info.hasNext} onClick={() => onPage(info.page + 1)}>
          Next
        </Button>
      </div>
    </nav>
  );
}
