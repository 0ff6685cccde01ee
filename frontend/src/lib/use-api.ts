"use client";
// Load data for a component: refetches when `key` changes, optionally on an interval,
// and never shows one key's data under another's.
import { useCallback, useEffect, useReducer, useRef } from "react";

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

interface State<T> {
  key: string | null;
  data: T | undefined;
  error: unknown;
}

const early = new Map<string, { pending: Promise<unknown>; at: number }>();
/** An early answer nobody took this soon is not used (it could be old by then). */
const EARLY_FOR_MS = 10_000;

/**
 * Start a load before React has mounted anything (from a page module's top level, as its
 * script runs), so the request overlaps hydration; the first `useApi` with the same key
 * takes the answer instead of asking again.
 */
export function loadEarly<T>(key: string, load: () => Promise<T>): void {
  if (early.has(key)) return;
  const pending = load();
  pending.catch(() => undefined); // a failure is reported by the useApi that takes it
  early.set(key, { pending, at: Date.now() });
}

/** `load` runs for each distinct `key` (null: nothing to load yet). */
export function useApi<T>(
  key: string | null,
  load: (signal: AbortSignal) => Promise<T>,
  refreshMs?: number,
): Loaded<T> {
  const [state, set] = useReducer(
    (_: State<T>, next: State<T>) => next,
    { key: null, data: undefined, error: undefined } as State<T>,
  );
  const [generation, bump] = useReducer((n: number) => n + 1, 0);
  const loader = useRef(load);
  useEffect(() => {
    loader.current = load;
  });

  useEffect(() => {
    if (key === null) return;
    const controller = new AbortController();
    const taken = early.get(key);
    early.delete(key);
    const started =
      taken && Date.now() - taken.at < EARLY_FOR_MS ? (taken.pending as Promise<T>) : undefined;
    (started ?? loader.current(controller.signal))
      .then((data) => set({ key, data, error: undefined }))
      .catch((error: unknown) => {
        if (!controller.signal.aborted) set({ key, data: undefined, error });
      });
    const timer = refreshMs ? setInterval(bump, refreshMs) : undefined;
    return () => {
      controller.abort();
      clearInterval(timer);
    };
  }, [key, generation, refreshMs]);

  const reload = useCallback(() => bump(), []);
  const current = state.key === key;
  return {
    data: current ? state.data : undefined,
    error: current ? state.error : undefined,
    loading: key !== null && !current,
    reload,
  };
}
