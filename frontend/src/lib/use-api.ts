"use client";
// Load data for a component: refetches when `key` changes, optionally on an interval,
// and never shows one key's data under another's.
import { useCallback, useEffect, useReducer, useRef } from "react";

export interface Loaded<T> {
  data: T | undefined;
  /** Why the first load of this key failed (the data is then undefined). */
  error: unknown;
  /** Why the latest reload failed while the data of an earlier one is still shown. */
  refreshError: unknown;
  loading: boolean;
  reload: () => void;
}

interface State<T> {
  key: string | null;
  data: T | undefined;
  error: unknown;
  refreshError: unknown;
}

type Outcome<T> = { key: string; data: T } | { key: string; failure: unknown };

/** A failed reload keeps the data it would have replaced: one failed poll must not
 * blank a page (or hide the banner that says the server is in trouble). */
function settle<T>(state: State<T>, outcome: Outcome<T>): State<T> {
  if ("data" in outcome) {
    return { key: outcome.key, data: outcome.data, error: undefined, refreshError: undefined };
  }
  if (state.key === outcome.key && state.data !== undefined) {
    return { ...state, refreshError: outcome.failure };
  }
  return { key: outcome.key, data: undefined, error: outcome.failure, refreshError: undefined };
}

/** `load` runs for each distinct `key` (null: nothing to load yet). */
export function useApi<T>(
  key: string | null,
  load: (signal: AbortSignal) => Promise<T>,
  refreshMs?: number,
): Loaded<T> {
  const [state, set] = useReducer(settle<T>, {
    key: null,
    data: undefined,
    error: undefined,
    refreshError: undefined,
  });
  const [generation, bump] = useReducer((n: number) => n + 1, 0);
  const loader = useRef(load);
  useEffect(() => {
    loader.current = load;
  });

  useEffect(() => {
    if (key === null) return;
    const controller = new AbortController();
    loader.current(controller.signal)
      .then((data) => {
        if (!controller.signal.aborted) set({ key, data });
      })
      .catch((failure: unknown) => {
        if (!controller.signal.aborted) set({ key, failure });
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
    refreshError: current ? state.refreshError : undefined,
    loading: key !== null && !current,
    reload,
  };
}
