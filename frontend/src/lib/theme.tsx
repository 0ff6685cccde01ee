"use client";
// Light, dark or the system's: the choice is kept in localStorage (it is no secret) and
// applied as the `dark` class on <html>; THEME_SCRIPT applies it before the first paint.
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";

export type ThemeChoice = "light" | "dark" | "system";
const KEY = "cryptopredict-theme";

export const THEME_SCRIPT = `(function(){try{var c=localStorage.getItem("${KEY}")||"system";var d=c==="dark"||(c==="system"&&matchMedia("(prefers-color-scheme: dark)").matches);document.documentElement.classList.toggle("dark",d)}catch(e){}})()`;

interface Theme {
  choice: ThemeChoice;
  resolved: "light" | "dark";
  choose: (choice: ThemeChoice) => void;
}

const ThemeContext = createContext<Theme | null>(null);

function stored(): ThemeChoice {
  if (typeof localStorage === "undefined") return "system";
  const value = localStorage.getItem(KEY);
  return value === "light" || value === "dark" ? value : "system";
}

function systemDark(): boolean {
  return typeof matchMedia !== "undefined" && matchMedia("(prefers-color-scheme: dark)").matches;
}

export function ThemeProvider({ children }: { children: ReactNode }) {
  const [choice, setChoice] = useState<ThemeChoice>("system");
  const [dark, setDark] = useState(false);

  useEffect(() => {
    const apply = () => {
      const current = stored();
      const isDark = current === "dark" || (current === "system" && systemDark());
      document.documentElement.classList.toggle("dark", isDark);
      setChoice(current);
      setDark(isDark);
    };
    apply();
    const media = matchMedia("(prefers-color-scheme: dark)");
    media.addEventListener("change", apply);
    window.addEventListener("cryptopredict-theme", apply);
    return () => {
      media.removeEventListener("change", apply);
      window.removeEventListener("cryptopredict-theme", apply);
    };
  }, []);

  const choose = useCallback((next: ThemeChoice) => {
    localStorage.setItem(KEY, next);
    window.dispatchEvent(new Event("cryptopredict-theme"));
  }, []);

  const value = useMemo<Theme>(
    () => ({ choice, resolved: dark ? "dark" : "light", choose }),
    [choice, dark, choose],
  );
  return <ThemeContext.Provider value={value}>{children}</ThemeContext.Provider>;
}

export function useTheme(): Theme {
  const theme = useContext(ThemeContext);
  if (theme === null) throw new Error("useTheme outside ThemeProvider");
  return theme;
}
