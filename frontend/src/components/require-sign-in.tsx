"use client";
import { Lock, LogIn } from "lucide-react";
import Link from "next/link";
import { usePathname } from "next/navigation";
import { useSyncExternalStore, type ReactNode } from "react";
import { loginHref } from "@/lib/next-path";
import { useSession } from "@/lib/session";
import { Button } from "./ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "./ui/card";
import { Skeleton } from "./ui/skeleton";

const noChange = () => () => {};

/** The address the reader is on, query included (the pathname alone while prerendering). */
function useCurrentPath(): string {
  const pathname = usePathname();
  return useSyncExternalStore(
    noChange,
    () => `${window.location.pathname}${window.location.search}`,
    () => pathname,
  );
}

/**
 * Shows `children` to a signed-in reader (with `role="admin"`, to an admin only); a
 * skeleton while the session loads; otherwise a card with a link to log in that comes back
 * here.
 */
export function RequireSignIn({
  children,
  role,
  what = "this page",
}: {
  children: ReactNode;
  role?: "admin";
  /** What needs the sign-in, for the card's text ("your portfolios"). */
  what?: string;
}) {
  const { status, user } = useSession();
  const path = useCurrentPath();

  if (status === "loading") {
    return (
      <div role="status" aria-label="Checking your session" className="flex flex-col gap-3">
        <Skeleton className="h-8 w-48" />
        <Skeleton className="h-32 w-full" />
      </div>
    );
  }
  if (status === "anonymous" || user === null) {
    return (
      <Card className="mx-auto max-w-md">
        <CardHeader>
          <CardTitle>Log in to see {what}</CardTitle>
          <CardDescription>
            {role === "admin"
              ? "Admins only: log in with an admin account."
              : "You need an account for this; it only takes an email and a password."}
          </CardDescription>
        </CardHeader>
        <CardContent>
          <Button asChild>
            <Link href={loginHref(path)}>
              <LogIn aria-hidden />
              Log in
            </Link>
          </Button>
        </CardContent>
      </Card>
    );
  }
  if (role === "admin" && user.role !== "admin") {
    return (
      <Card className="mx-auto max-w-md" data-testid="admins-only">
        <CardHeader>
          <CardTitle className="flex items-center gap-2">
            <Lock aria-hidden className="size-4" />
            Admins only
          </CardTitle>
          <CardDescription>
            You are signed in as {user.email}, which is not an admin account. Ask an admin to change
            your role if you need {what}.
          </CardDescription>
        </CardHeader>
      </Card>
    );
  }
  return <>{children}</>;
}
