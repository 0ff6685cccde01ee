"use client";
import { LineChart, Monitor, Moon, Sun, UserRound } from "lucide-react";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { useSession } from "@/lib/session";
import { useTheme, type ThemeChoice } from "@/lib/theme";
import { cn } from "@/lib/utils";
import { Button } from "./ui/button";

const LINKS = [
  { href: "/", label: "Markets" },
  { href: "/accuracy", label: "Accuracy" },
  { href: "/portfolio", label: "Portfolio" },
] as const;

function NavLink({ href, label }: { href: string; label: string }) {
  const pathname = usePathname();
  const active = href === "/" ? pathname === "/" || pathname.startsWith("/coin") : pathname.startsWith(href);
  return (
    <Link
      href={href}
      aria-current={active ? "page" : undefined}
      className={cn(
        "rounded-md px-2 py-1.5 text-sm font-medium transition-colors hover:bg-accent sm:px-3",
        active ? "text-foreground" : "text-muted-foreground",
      )}
    >
      {label}
    </Link>
  );
}

const NEXT_THEME: Record<ThemeChoice, ThemeChoice> = { light: "dark", dark: "system", system: "light" };

/** One button that steps light → dark → system (a menu's positioning code would weigh on
 * every page's first load for three choices). */
function ThemeToggle() {
  const { choice, resolved, choose } = useTheme();
  const Icon = choice === "system" ? Monitor : resolved === "dark" ? Moon : Sun;
  const next = NEXT_THEME[choice];
  return (
    <Button
      variant="ghost"
      size="icon"
      aria-label={`Theme: ${choice}. Switch to ${next}`}
      title={`Theme: ${choice} (switch to ${next})`}
      data-testid="theme-toggle"
      onClick={() => choose(next)}
    >
      <Icon aria-hidden />
    </Button>
  );
}

export function SiteHeader() {
  const { status, user } = useSession();
  return (
    <header className="sticky top-0 z-40 border-b bg-background/95 backdrop-blur">
      <a
        href="#main"
        className="sr-only rounded-md bg-primary px-3 py-2 text-primary-foreground focus:not-sr-only focus:absolute focus:top-2 focus:left-2"
      >
        Skip to content
      </a>
      <div className="mx-auto flex h-14 max-w-7xl items-center gap-1 px-3 sm:gap-4 sm:px-6">
        <Link
          href="/"
          aria-label="CryptoPredict: markets"
          className="mr-1 flex shrink-0 items-center gap-2 font-semibold sm:mr-4"
        >
          <LineChart aria-hidden className="size-5 text-primary" />
          <span className="hidden sm:inline">CryptoPredict</span>
        </Link>
        <nav
          aria-label="Main"
          className="flex min-w-0 flex-1 items-center gap-0.5 overflow-x-auto sm:gap-1"
        >
          {LINKS.map((link) => (
            <NavLink key={link.href} {...link} />
          ))}
          {user?.role === "admin" ? <NavLink href="/admin" label="Admin" /> : null}
        </nav>
        <div className="ml-auto flex shrink-0 items-center gap-1">
          <ThemeToggle />
          {status === "signed-in" && user ? (
            <Button asChild variant="ghost" size="sm">
              <Link
                href="/account"
                data-testid="account-link"
                aria-label={`Account: ${user.full_name || user.email}`}
              >
                <UserRound aria-hidden />
                <span className="hidden max-w-32 truncate md:inline">
                  {user.full_name || user.email}
                </span>
              </Link>
            </Button>
          ) : status === "anonymous" ? (
            <Button asChild size="sm">
              <Link href="/account">Log in</Link>
            </Button>
          ) : null}
        </div>
      </div>
    </header>
  );
}
