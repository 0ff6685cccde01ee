import { describe, expect, it } from "vitest";
import { loginHref, safeNext } from "./next-path";

describe("safeNext", () => {
  it("keeps paths of this site, query included", () => {
    expect(safeNext("/portfolio?id=3")).toBe("/portfolio?id=3");
    expect(safeNext("/coin?id=bitcoin#chart")).toBe("/coin?id=bitcoin#chart");
  });
  it("falls back for anything that could leave the site", () => {
    expect(safeNext("https://evil.example/")).toBe("/");
    expect(safeNext("//evil.example")).toBe("/");
    expect(safeNext("/\\evil.example")).toBe("/");
    expect(safeNext("/\tevil")).toBe("/");
    expect(safeNext("javascript:alert(1)")).toBe("/");
    expect(safeNext("")).toBe("/");
    expect(safeNext(null)).toBe("/");
  });
  it("does not come back to the account page", () => {
    expect(safeNext("/account")).toBe("/");
    expect(safeNext("/account?next=/x", "/home")).toBe("/home");
    expect(safeNext("/accuracy")).toBe("/accuracy");
  });
});

describe("loginHref", () => {
  it("carries the current path, encoded", () => {
    expect(loginHref("/portfolio?id=3")).toBe("/account?next=%2Fportfolio%3Fid%3D3");
    expect(loginHref("/account")).toBe("/account");
  });
});

describe("safeNext against paths a URL parser turns into hosts", () => {
  it("refuses dot segments that resolve to a protocol-relative path", () => {
    expect(safeNext("/.//evil.com")).toBe("/");
    expect(safeNext("/a/..//evil.com")).toBe("/");
  });
  it("keeps an ordinary path with its query", () => {
    expect(safeNext("/admin?tab=tasks")).toBe("/admin?tab=tasks");
    expect(safeNext("/coin?id=bitcoin&range=1y")).toBe("/coin?id=bitcoin&range=1y");
  });
});
