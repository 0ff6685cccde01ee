"use client";
// Accounts: search and filter, change a role, activate or deactivate, each confirmed. The
// API decides what is allowed (an admin cannot demote or deactivate themself) and says why.
import { Search } from "lucide-react";
import { useState, type FormEvent } from "react";
import { Pager } from "@/components/pager";
import { EmptyState, ErrorState, LoadingRows } from "@/components/states";
import { Time } from "@/components/time";
import { Badge } from "@/components/ui/badge";
import { Button } from "@/components/ui/button";
import { Card, CardContent, CardDescription, CardHeader, CardTitle } from "@/components/ui/card";
import { Input, NativeSelect } from "@/components/ui/input";
import {
  Table,
  TableBody,
  TableCaption,
  TableCell,
  TableHead,
  TableHeader,
  TableRow,
} from "@/components/ui/table";
import { api, unwrap, type Schemas } from "@/lib/api/client";
import { pageInfo, pageOffset } from "@/lib/paging";
import { useApi } from "@/lib/use-api";
import {
  ConfirmAction,
  Field,
  Notice,
  PAGE_SIZE,
  StateBadge,
  Toolbar,
  type ConfirmRequest,
} from "./common";

type User = Schemas["UserRead"];
type Role = Schemas["Role"];

export function UsersPanel({ currentUserId }: { currentUserId: number }) {
  const [text, setText] = useState("");
  const [query, setQuery] = useState("");
  const [role, setRole] = useState<Role | "">("");
  const [active, setActive] = useState<"" | "true" | "false">("");
  const [page, setPage] = useState(1);
  const [confirm, setConfirm] = useState<ConfirmRequest | null>(null);
  const [notice, setNotice] = useState<string | null>(null);

  const users = useApi(`users:${query}:${role}:${active}:${page}`, (signal) =>
    unwrap(
      api.GET("/api/v1/users", {
        params: {
          query: {
            q: query || undefined,
            role: role || undefined,
            is_active: active === "" ? undefined : active === "true",
            limit: PAGE_SIZE,
            offset: pageOffset(page, PAGE_SIZE),
          },
        },
        signal,
      }),
    ),
  );

  function search(event: FormEvent) {
    event.preventDefault();
    setQuery(text.trim());
    setPage(1);
  }

  function who(user: User) {
    return user.id === currentUserId ? `${user.email} (you)` : user.email;
  }

  function askRole(user: User) {
    const next: Role = user.role === "admin" ? "user" : "admin";
    setConfirm({
      title: next === "admin" ? `Make ${user.email} an admin?` : `Make ${user.email} a normal user?`,
      description:
        next === "admin" ? (
          <p>
            <strong>{who(user)}</strong> will manage users, models, syncs and tasks.
          </p>
        ) : (
          <p>
            <strong>{who(user)}</strong> loses access to this page and every admin action.
          </p>
        ),
      confirmLabel: next === "admin" ? "Make admin" : "Make user",
      destructive: next === "user",
      action: async () => {
        const updated = await unwrap(
          api.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: user.id } }, body: { role: next } }),
        );
        users.reload();
        return `${updated.email} is now ${updated.role === "admin" ? "an admin" : "a user"}.`;
      },
    });
  }

  function askActive(user: User) {
    const deactivate = user.is_active;
    setConfirm({
      title: deactivate ? `Deactivate ${user.email}?` : `Activate ${user.email}?`,
      description: deactivate ? (
        <p>
          <strong>{who(user)}</strong> is signed out everywhere at once and cannot log in until
          activated again. Nothing they own is deleted.
        </p>
      ) : (
        <p>
          <strong>{who(user)}</strong> can log in again.
        </p>
      ),
      confirmLabel: deactivate ? "Deactivate" : "Activate",
      destructive: deactivate,
      action: async () => {
        const path = { params: { path: { user_id: user.id } } };
        const updated = await unwrap(
          deactivate
            ? api.POST("/api/v1/users/{user_id}/deactivate", path)
            : api.POST("/api/v1/users/{user_id}/activate", path),
        );
        users.reload();
        return `${updated.email} is now ${updated.is_active ? "active" : "inactive"}.`;
      },
    });
  }

  const filtered = query !== "" || role !== "" || active !== "";

  return (
    <div className="flex flex-col gap-6">
      {notice ? <Notice onDismiss={() => setNotice(null)}>{notice}</Notice> : null}
      <Card>
        <CardHeader>
          <CardTitle>Users</CardTitle>
          <CardDescription>Every account, with its role and whether it may log in.</CardDescription>
        </CardHeader>
        <CardContent>
          <Toolbar>
            <form onSubmit={search} role="search" aria-label="Users" className="flex w-full items-end gap-2 sm:w-auto">
              <Field id="users-search" label="Email or name" className="min-w-0 flex-1">
                <Input
                  id="users-search"
                  type="search"
                  value={text}
                  onChange={(event) => setText(event.target.value)}
                  autoComplete="off"
                  className="sm:w-56"
                />
              </Field>
              <Button type="submit" variant="outline" aria-label="Search users">
                <Search aria-hidden /> Search
              </Button>
            </form>
            <Field id="users-role" label="Role">
              <NativeSelect
                id="users-role"
                value={role}
                onChange={(event) => {
                  setRole(event.target.value as Role | "");
                  setPage(1);
                }}
              >
                <option value="">Any role</option>
                <option value="admin">admin</option>
                <option value="user">user</option>
              </NativeSelect>
            </Field>
            <Field id="users-active" label="Active">
              <NativeSelect
                id="users-active"
                value={active}
                onChange={(event) => {
                  setActive(event.target.value as "" | "true" | "false");
                  setPage(1);
                }}
              >
                <option value="">Active or not</option>
                <option value="true">Active</option>
                <option value="false">Inactive</option>
              </NativeSelect>
            </Field>
          </Toolbar>
          {users.loading ? <LoadingRows rows={5} label="Loading users" /> : null}
          {users.error ? <ErrorState error={users.error} retry={users.reload} /> : null}
          {users.data && users.data.items.length === 0 ? (
            <EmptyState title="No users">{filtered ? "No account matches." : "No account exists yet."}</EmptyState>
          ) : null}
          {users.data && users.data.items.length > 0 ? (
            <>
              <Table>
                <TableCaption className="sr-only">Users</TableCaption>
                <TableHeader>
                  <TableRow>
                    <TableHead scope="col">Email</TableHead>
                    <TableHead scope="col">Name</TableHead>
                    <TableHead scope="col">Role</TableHead>
                    <TableHead scope="col">Active</TableHead>
                    <TableHead scope="col">Last login</TableHead>
                    <TableHead scope="col">Joined</TableHead>
                    <TableHead scope="col">
                      <span className="sr-only">Actions</span>
                    </TableHead>
                  </TableRow>
                </TableHeader>
                <TableBody>
                  {users.data.items.map((user) => (
                    <TableRow key={user.id}>
                      <TableCell>
                        {user.email}
                        {user.id === currentUserId ? (
                          <Badge variant="outline" className="ml-2">
                            you
                          </Badge>
                        ) : null}
                      </TableCell>
                      <TableCell>{user.full_name || <span className="text-muted-foreground">—</span>}</TableCell>
                      <TableCell>
                        <StateBadge state={user.role} />
                      </TableCell>
                      <TableCell>
                        <Badge variant={user.is_active ? "positive" : "secondary"}>
                          {user.is_active ? "active" : "inactive"}
                        </Badge>
                      </TableCell>
                      <TableCell>
                        {user.last_login_at ? <Time iso={user.last_login_at} /> : <span className="text-muted-foreground">Never</span>}
                      </TableCell>
                      <TableCell>
                        <Time iso={user.created_at} dateOnly />
                      </TableCell>
                      <TableCell>
                        <div className="flex justify-end gap-1">
                          <Button
                            variant="outline"
                            size="sm"
                            aria-label={`${user.role === "admin" ? "Make user" : "Make admin"}: ${user.email}`}
                            onClick={() => askRole(user)}
                          >
                            {user.role === "admin" ? "Make user" : "Make admin"}
                          </Button>
                          <Button
                            variant={user.is_active ? "destructive" : "outline"}
                            size="sm"
                            aria-label={`${user.is_active ? "Deactivate" : "Activate"} ${user.email}`}
                            onClick={() => askActive(user)}
                          >
                            {user.is_active ? "Deactivate" : "Activate"}
                          </Button>
                        </div>
                      </TableCell>
                    </TableRow>
                  ))}
                </TableBody>
              </Table>
              <Pager
                info={pageInfo(page, PAGE_SIZE, users.data.total)}
                onPage={setPage}
                label="Users pages"
                noun="users"
              />
            </>
          ) : null}
        </CardContent>
      </Card>
      <ConfirmAction request={confirm} onClose={() => setConfirm(null)} onDone={setNotice} />
    </div>
  );
}
