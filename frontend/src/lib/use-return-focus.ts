"use client";
// Dialogs opened from state (not from a Radix trigger) do not know where focus came from:
// remember the control that opened one, and send focus back there when it closes (or to
// `fallback` when that control is gone, e.g. the row of a deleted transaction).
import { useRef, type RefObject } from "react";

export function useReturnFocus(fallback?: RefObject<HTMLElement | null>) {
  const opener = useRef<HTMLElement | null>(null);
  return {
    remember(element: EventTarget | null) {
      opener.current = element instanceof HTMLElement ? element : null;
    },
    /** For DialogContent's onCloseAutoFocus. */
    restore(event: Event) {
      const target = opener.current?.isConnected ? opener.current : fallback?.current;
      if (target?.isConnected) {
        event.preventDefault();
        target.focus();
      }
    },
  };
}
