"use client";
import { useState, type FormEvent } from "react";
import { formErrors, NO_ERRORS, type FormErrors } from "@/lib/form-errors";
import { useSession } from "@/lib/session";
import { FormAlert, SubmitButton } from "../form";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "../ui/card";
import { Field, fieldProps } from "../ui/field";
import { Input } from "../ui/input";
import { Tabs, TabsContent, TabsList, TabsTrigger } from "../ui/tabs";

type LoginField = "email" | "password";
const LOGIN_FIELDS: readonly LoginField[] = ["email", "password"];

function LoginForm({ onDone }: { onDone: () => void }) {
  const { login } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [pending, setPending] = useState(false);
  const [errors, setErrors] = useState<FormErrors<LoginField>>(NO_ERRORS);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setPending(true);
    setErrors(NO_ERRORS);
    try {
      await login(email.trim(), password);
      onDone();
    } catch (error) {
      setErrors(formErrors(error, LOGIN_FIELDS));
      setPending(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate className="flex flex-col gap-4" aria-label="Log in">
      <FormAlert message={errors.message} />
      <Field id="login-email" label="Email" error={errors.fields.email}>
        <Input
          {...fieldProps("login-email", errors.fields.email)}
          type="email"
          autoComplete="username"
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          required
        />
      </Field>
      <Field id="login-password" label="Password" error={errors.fields.password}>
        <Input
          {...fieldProps("login-password", errors.fields.password)}
          type="password"
          autoComplete="current-password"
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          required
        />
      </Field>
      <SubmitButton pending={pending}>Log in</SubmitButton>
    </form>
  );
}

type RegisterField = "email" | "password" | "full_name";
const REGISTER_FIELDS: readonly RegisterField[] = ["email", "password", "full_name"];

function RegisterForm({ onDone }: { onDone: () => void }) {
  const { register } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [fullName, setFullName] = useState("");
  const [pending, setPending] = useState(false);
  const [errors, setErrors] = useState<FormErrors<RegisterField>>(NO_ERRORS);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setPending(true);
    setErrors(NO_ERRORS);
    try {
      await register(email.trim(), password, fullName.trim() || null);
      onDone();
    } catch (error) {
      setErrors(formErrors(error, REGISTER_FIELDS));
      setPending(false);
    }
  }

  return (
    <form onSubmit={submit} noValidate className="flex flex-col gap-4" aria-label="Register">
      <FormAlert message={errors.message} />
      <Field id="register-email" label="Email" error={errors.fields.email}>
        <Input
          {...fieldProps("register-email", errors.fields.email)}
          type="email"
          autoComplete="email"
          value={email}
          onChange={(event) => setEmail(event.target.value)}
          required
        />
      </Field>
      <Field
        id="register-password"
        label="Password"
        error={errors.fields.password}
        hint="At least 8 characters."
      >
        <Input
          {...fieldProps("register-password", errors.fields.password, true)}
          type="password"
          autoComplete="new-password"
          value={password}
          onChange={(event) => setPassword(event.target.value)}
          required
        />
      </Field>
      <Field id="register-name" label="Full name (optional)" error={errors.fields.full_name}>
        <Input
          {...fieldProps("register-name", errors.fields.full_name)}
          autoComplete="name"
          value={fullName}
          onChange={(event) => setFullName(event.target.value)}
        />
      </Field>
      <SubmitButton pending={pending}>Create account</SubmitButton>
    </form>
  );
}

/** Log in or register, in two tabs; `onDone` runs once signed in. */
export function AuthForms({ onDone }: { onDone: () => void }) {
  return (
    <Card className="mx-auto w-full max-w-md">
      <CardHeader>
        <CardTitle>Welcome</CardTitle>
        <CardDescription>Log in to keep portfolios, or create an account.</CardDescription>
      </CardHeader>
      <CardContent>
        <Tabs defaultValue="login" className="flex flex-col gap-4">
          <TabsList className="grid w-full grid-cols-2">
            <TabsTrigger value="login">Log in</TabsTrigger>
            <TabsTrigger value="register">Register</TabsTrigger>
          </TabsList>
          <TabsContent value="login">
            <LoginForm onDone={onDone} />
          </TabsContent>
          <TabsContent value="register">
            <RegisterForm onDone={onDone} />
          </TabsContent>
        </Tabs>
      </CardContent>
    </Card>
  );
}
