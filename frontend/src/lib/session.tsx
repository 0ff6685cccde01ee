"use client";
// Who is signed in. The access token lives in memory (lib/api/client.ts); on load the
// refresh cookie, if any, is traded for one, so a reload keeps the session.
import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";
import type { ReactNode } from "react";
import {
  api,
  ApiError,
  onSessionChange,
  refreshSession,
  setAccessToken,
  unwrap,
  type Schemas,
} from "./api/client";

export type User = Schemas["UserRead"];
type Status = "loading" | "anonymous" | "signed-in";

interface Session {
  status: Status;
  user: User | null;
  login: (email: string, password: string) => Promise<void>;
  register: (email: string, password: string, fullName: string | null) => Promise<void>;
  logout: () => Promise<void>;
  reloadUser: () => Promise<void>;
}

const SessionContext = createContext<Session | null>(null);

async function currentUser(): Promise<User> {
  return unwrap(api.GET("/api/v1/users/me"));
}

export function SessionProvider({ children }: { children: ReactNode }) {
  const [status, setStatus] = useState<Status>("loading");
  const [user, setUser] = useState<User | null>(null);

  const adopt = useCallback(async () => {
    try {
      const me = await currentUser();
      setUser(me);
      setStatus("signed-in");
    } catch (error) {
      // Only a refused token means signed out; a server in trouble keeps the session.
      if (error instanceof ApiError && error.status === 401) setAccessToken(null);
      setUser(null);
      setStatus("anonymous");
    }
  }, []);

  useEffect(() => {
    let alive = true;
    void refreshSession().then(async (held) => {
      if (!alive) return;
      if (held) await adopt();
      else setStatus("anonymous");
    });
    const stop = onSessionChange((signedIn) => {
      if (!signedIn) {
        setUser(null);
        setStatus("anonymous");
      }
    });
    return () => {
      alive = false;
      stop();
    };
  }, [adopt]);

  const login = useCallback(
    async (email: string, password: string) => {
      const session = await unwrap(api.POST("/api/v1/auth/session", { body: { email, password } }));
      setAccessToken(session.access_token, session.expires_in);
      await adopt();
    },
    [adopt],
  );

  const register = useCallback(
    async (email: string, password: string, fullName: string | null) => {
      await unwrap(
        api.POST("/api/v1/auth/register", { body: { email, password, full_name: fullName } }),
      );
      await login(email, password);
    },
    [login],
  );

  const logout = useCallback(async () => {
    try {
      await api.DELETE("/api/v1/auth/session");
    } finally {
      setAccessToken(null);
    }
  }, []);

  const value = useMemo(
    () => ({ status, user, login, register, logout, reloadUser: adopt }),
    [status, user, login, register, logout, adopt],
  );
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error("useSession outside SessionProvider");
  return session;
}
