"use client";
// Live events from GET /api/v1/stream (Server-Sent Events): `price` after each prices
// sync, `forecast` per forecast issued or scored. Reconnects with exponential backoff
// (1 s doubling to 30 s, jittered), resuming after the last event seen.
import { useEffect, useRef } from "react";

export interface PriceEvent {
  coin: string;
  interval: string;
  timestamp: string;
  price: number;
  volume: number | null;
  market_cap: number | null;
  updated_at: string | null;
}

export interface ForecastEvent {
  coin: string;
  [field: string]: unknown;
}

export interface StreamHandlers {
  price?: (event: PriceEvent) => void;
  forecast?: (event: ForecastEvent) => void;
  /** Events were lost while disconnected: reload what the page shows. */
  missed?: () => void;
}

const FIRST_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;

/** The delay before reconnection attempt `attempt` (0-based), jitter in [0.5, 1). */
export function backoffDelay(attempt: number, jitter: number = Math.random()): number {
  const base = Math.min(MAX_DELAY_MS, FIRST_DELAY_MS * 2 ** attempt);
  return Math.round(base * (0.5 + jitter / 2));
}

/** The stream's URL for these coins (all coins when empty), resuming after `lastEventId`. */
export function streamUrl(coins: readonly string[], lastEventId: string | null): string {
  const query = new URLSearchParams();
  if (coins.length > 0) query.set("coins", coins.join(","));
  if (lastEventId) query.set("last_event_id", lastEventId);
  const text = query.toString();
  return text ? `/api/v1/stream?${text}` : "/api/v1/stream";
}

/** Subscribe while mounted; `coins` empty means every coin. */
export function useLiveEvents(coins: readonly string[], handlers: StreamHandlers): void {
  const latest = useRef(handlers);
  useEffect(() => {
    latest.current = handlers;
  });
  const key = coins.join(",");

  useEffect(() => {
    if (typeof EventSource === "undefined") return;
    const wanted = key ? key.split(",") : [];
    let source: EventSource | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let attempt = 0;
    let lastId: string | null = null;
    let closed = false;
    let reconnecting = false;

    const parse = (event: MessageEvent<string>): unknown => {
      if (event.lastEventId) lastId = event.lastEventId;
      try {
        return JSON.parse(event.data);
      } catch {
        return null;
      }
    };

    const connect = () => {
      source = new EventSource(streamUrl(wanted, lastId));
      source.onopen = () => {
        attempt = 0;
        // Back after a break with no event id to resume from: the server cannot say what
        // was missed, so the page reloads what it shows.
        if (reconnecting && lastId === null) latest.current.missed?.();
        reconnecting = false;
      };
      source.addEventListener("price", (event) => {
        const data = parse(event as MessageEvent<string>);
        if (data) latest.current.price?.(data as PriceEvent);
      });
      source.addEventListener("forecast", (event) => {
        const data = parse(event as MessageEvent<string>);
        if (data) latest.current.forecast?.(data as ForecastEvent);
      });
      source.addEventListener("missed", (event) => {
        parse(event as MessageEvent<string>);
        latest.current.missed?.();
      });
      source.onerror = () => {
        source?.close(); // our own backoff instead of the browser's fixed retry
        if (closed) return;
        reconnecting = true;
        timer = setTimeout(connect, backoffDelay(attempt));
        attempt += 1;
      };
    };

    connect();
    return () => {
      closed = true;
      clearTimeout(timer);
      source?.close();
    };
  }, [key]);
}
