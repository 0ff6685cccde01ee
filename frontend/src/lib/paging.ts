// One way to page a list on the client or through the API's limit/offset.
import { formatNumber, type FormatOptions } from "./format";

export interface PageInfo {
  /** 1-based page, clamped into [1, pages]. */
  page: number;
  pages: number;
  /** 0-based offset of the page's first item. */
  offset: number;
  /** 1-based positions shown ("1–25 of 80"); 0 and 0 when the list is empty. */
  from: number;
  to: number;
  total: number;
  hasPrevious: boolean;
  hasNext: boolean;
}

/** Where page `page` of `size` items lies in a list of `total`. */
export function pageInfo(page: number, size: number, total: number): PageInfo {
  const pages = Math.max(1, Math.ceil(total / size));
  const current = Math.min(Math.max(1, Math.floor(page) || 1), pages);
  const offset = (current - 1) * size;
  return {
    page: current,
    pages,
    offset,
    from: total === 0 ? 0 : offset + 1,
    to: Math.min(offset + size, total),
    total,
    hasPrevious: current > 1,
    hasNext: current < pages,
  };
}

/** The items of one page. */
export function pageItems<T>(items: readonly T[], info: PageInfo): T[] {
  return items.slice(info.offset, info.offset + (info.to - info.from + 1));
}

/** The API's `offset` for page `page` (1-based) of `size` items, before the total is known. */
export function pageOffset(page: number, size: number): number {
  return (Math.max(1, Math.floor(page) || 1) - 1) * size;
}

/** What a pager says: "Showing 21–40 of 45 users", or "No users". */
export function pageSummary(info: PageInfo, noun: string, options: FormatOptions = {}): string {
  const n = (value: number) => formatNumber(value, { locale: options.locale, maximumFractionDigits: 0 });
  if (info.total === 0) return `No ${noun}`;
  return `Showing ${n(info.from)}–${n(info.to)} of ${n(info.total)} ${noun}`;
}
