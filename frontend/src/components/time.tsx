"use client";
import { formatDate, formatDateTime, utcLabel } from "@/lib/format";

/** A moment in the reader's time zone, with UTC on hover. */
export function Time({ iso, dateOnly = false }: { iso: string | null | undefined; dateOnly?: boolean }) {
  if (!iso) return <span>—</span>;
  return (
    <time dateTime={iso} title={utcLabel(iso)}>
      {dateOnly ? formatDate(iso) : formatDateTime(iso)}
    </time>
  );
}
