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
