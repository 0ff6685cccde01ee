"use client";
import { ChevronLeft, ChevronRight } from "lucide-react";
import { pageSummary, type PageInfo } from "@/lib/paging";
import { cn } from "@/lib/utils";
import { Button } from "./ui/button";

/**
 * "Showing 1–25 of 80 coins" with buttons to the pages either side (only when there is more
 * than one page). The labels default to Previous and Next; a newest-first list may name them
 * Newer and Older.
 */
export function Pager({
  info,
  onPage,
  label,
  noun = "items",
  previousLabel = "Previous",
  nextLabel = "Next",
  className,
}: {
  info: PageInfo;
  /** Called with the 1-based page to show. */
  onPage: (page: number) => void;
  /** Names the navigation landmark, e.g. "Markets pages". */
  label: string;
  noun?: string;
  previousLabel?: string;
  nextLabel?: string;
  className?: string;
}) {
  return (
    <nav aria-label={label} className={cn("flex flex-wrap items-center justify-between gap-2 pt-3 text-sm", className)}>
      <p className="text-muted-foreground" aria-live="polite">
        {pageSummary(info, noun)}
      </p>
      {info.pages > 1 ? (
        <div className="flex gap-2">
          <Button variant="outline" size="sm" disabled={!info.hasPrevious} onClick={() => onPage(info.page - 1)}>
            <ChevronLeft aria-hidden />
            {previousLabel}
          </Button>
          <Button variant="outline" size="sm" disabled={!info.hasNext} onClick={() => onPage(info.page + 1)}>
            {nextLabel}
            <ChevronRight aria-hidden />
          </Button>
        </div>
      ) : null}
    </nav>
  );
}
