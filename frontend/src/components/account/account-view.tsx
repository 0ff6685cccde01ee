"use client";
import { CheckCircle2, LogOut } from "lucide-react";
import { useRouter, useSearchParams } from "next/navigation";
import { useState, type FormEvent, type ReactNode } from "react";
import { api, unwrap } from "@/lib/api/client";
import { formErrors, NO_ERRORS, type FormErrors } from "@/lib/form-errors";
import { safeNext } from "@/lib/next-path";
import { useSession, type User } from "@/lib/session";
import { PageHeader } from "../states";
import { Time } from "../time";
import { Alert, AlertDescription } from "../ui/alert";
import { Badge } from "../ui/badge";
import { Button } from "../ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../ui/card";
import { Field, fieldProps } from "../ui/field";
import { Input } from "../ui/input";
import { Skeleton } from "../ui/skeleton";
import { FormAlert, SubmitButton } from "../form";
import { AuthForms } from "./auth-forms";

type PasswordField = "current_password" | "new_password";
const PASSWORD_FIELDS: readonly PasswordField[] = ["current_password", "new_password"];

function ChangePasswordForm({ user }: { user: User }) {
  const { login } = useSession();
  const [current, setCurrent] = useState("");
  const [next, setNext] = useState("");
  const [pending, setPending] = useState(false);
  const [done, setDone] = useState(false);
  const [errors, setErrors] = useState<FormErrors<PasswordField>>(NO_ERRORS);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setPending(true);
    setDone(false);
    setErrors(NO_ERRORS);
    try {
      await unwrap(
        api.POST("/api/v1/users/me/password", {
          body: { current_password: current, new_password: next },
        }),
      );
    } catch (error) {
      setErrors(formErrors(error, PASSWORD_FIELDS));
      setPending(false);
      return;
    }
    // The server ends every session of the account, this one included: log in again with
    // the new password so the reader stays signed in here.
    try {
      await login(user.email, next);
      setDone(true);
      setCurrent("");
      setNext("");
    } catch (error) {
      setErrors(formErrors(error, []));
    } finally {
      setPending(false);
    }
  }

  return (
    <Card>
      <CardHeader>
        <CardTitle>Change password</CardTitle>
        <CardDescription>Other devices signed in to this account will be logged out.</CardDescription>
      </CardHeader>
      <CardContent>
        <form onSubmit={submit} noValidate className="flex max-w-sm flex-col gap-4" aria-label="Change password">
          {done ? (
            <Alert className="flex items-center gap-2" role="status">
              <CheckCircle2 aria-hidden className="text-positive" />
              <AlertDescription>Your password has been changed.</AlertDescription>
            </Alert>
          ) : null}
          <FormAlert message={errors.message} />
          <Field id="current-password" label="Current password" error={errors.fields.current_password}>
            <Input
              {...fieldProps("current-password", errors.fields.current_password)}
              type="password"
              autoComplete="current-password"
              value={current}
              onChange={(event) => setCurrent(event.target.value)}
              required
            />
          </Field>
          <Field
            id="new-password"
            label="New password"
            error={errors.fields.new_password}
            hint="At least 8 characters, not the current one."
          >
            <Input
              {...fieldProps("new-password", errors.fields.new_password, true)}
              type="password"
              autoComplete="new-password"
              value={next}
              onChange={(event) => setNext(event.target.value)}
              required
            />
          </Field>
          <div>
            <SubmitButton pending={pending}>Change password</SubmitButton>
          </div>
        </form>
      </CardContent>
    </Card>
  );
}

function Detail({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="flex flex-col gap-0.5 sm:flex-row sm:gap-4">
      <dt className="w-32 shrink-0 text-sm text-muted-foreground">{term}</dt>
      <dd className="min-w-0 text-sm break-words">{children}</dd>
    </div>
  );
}

function SignedIn({ user }: { user: User }) {
  const { logout } = useSession();
  const router = useRouter();
  const [leaving, setLeaving] = useState(false);

  async function logOut() {
    setLeaving(true);
    try {
      await logout();
    } finally {
      router.push("/");
    }
  }

  return (
    <>
      <PageHeader
        title="Account"
        description="Who you are signed in as, and your password."
        actions={
          <Button variant="outline" onClick={logOut} disabled={leaving}>
            <LogOut aria-hidden />
            Log out
          </Button>
        }
      />
      <div className="grid gap-6 lg:grid-cols-2">
        <Card>
          <CardHeader>
            <CardTitle>Profile</CardTitle>
          </CardHeader>
          <CardContent>
            <dl className="flex flex-col gap-3">
              <Detail term="Email">{user.email}</Detail>
              <Detail term="Name">{user.full_name || <span className="text-muted-foreground">Not given</span>}</Detail>
              <Detail term="Role">
                <Badge variant={user.role === "admin" ? "default" : "secondary"}>
                  {user.role === "admin" ? "Administrator" : "User"}
                </Badge>
              </Detail>
              <Detail term="Member since">
                <Time iso={user.created_at} dateOnly />
              </Detail>
              <Detail term="Last login">
                <Time iso={user.last_login_at} />
              </Detail>
            </dl>
          </CardContent>
        </Card>
        <ChangePasswordForm user={user} />
      </div>
    </>
  );
}

/** The account page: log in or register when signed out, the account when signed in. */
export function AccountView() {
  const { status, user } = useSession();
  const router = useRouter();
  const params = useSearchParams();
  const next = safeNext(params.get("next"));
  // Set when this page logged the reader in, so the signed-in view does not flash by.
  const [leaving, setLeaving] = useState(false);

  if (status === "loading" || leaving) {
    return (
      <>
        <PageHeader title="Account" />
        <div role="status" aria-label="Loading your account" className="flex flex-col gap-3">
          <Skeleton className="h-40 w-full max-w-md" />
        </div>
      </>
    );
  }
  if (status === "signed-in" && user) return <SignedIn user={user} />;
  return (
    <>
      <PageHeader title="Account" description="Log in or create an account to keep portfolios." />
      <AuthForms
        onDone={() => {
          setLeaving(true);
          router.push(next);
        }}
      />
    </>
  );
}
