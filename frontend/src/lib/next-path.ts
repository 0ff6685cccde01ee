// Where to go after logging in: the `?next=` a page sent the reader with, kept to paths of
// this site so a crafted link cannot send a fresh login elsewhere.

/** A same-site path from `next`, or `fallback` ("/") for anything else. */
export function safeNext(next: string | null | undefined, fallback = "/"): string {
  if (!next || !next.startsWith("/") || next.startsWith("//") || next.startsWith("/\\")) {
    return fallback;
  }
  // Control characters and backslashes have no place in our paths; browsers read "/\x"
  // and "/\tevil.com" in surprising ways.
  if (/[\u0000-\u001f\u007f\\]/.test(next)) return fallback;
  // Resolve it as a browser would ("/.//evil.com" is the path "//evil.com"): keep it only
  // when it stays on this origin and its path cannot be read as a host.
  const origin = "http://this.site";
  let resolved: URL;
  try {
    resolved = new URL(next, origin);
  } catch {
    return fallback;
  }
  if (resolved.origin !== origin || resolved.pathname.startsWith("//")) return fallback;
  next = resolved.pathname + resolved.search + resolved.hash;
  // Back to the account page would only show "you are signed in".
  if (next === "/account" || next.startsWith("/account?") || next.startsWith("/account/")) {
    return fallback;
  }
  return next;
}

/** The account page's address that comes back to `path` after logging in. */
export function loginHref(path: string): string {
  const next = safeNext(path, "");
  return next ? `/account?next=${encodeURIComponent(next)}` : "/account";
}
