import { describe, expect, it } from "vitest";
import { pageInfo, pageItems, pageOffset, pageSummary } from "./paging";

describe("pageInfo", () => {
  it("gives the range shown and where the buttons lead", () => {
    expect(pageInfo(2, 25, 60)).toMatchObject({ page: 2, pages: 3, offset: 25, from: 26, to: 50, hasPrevious: true, hasNext: true });
    expect(pageInfo(3, 25, 60)).toMatchObject({ from: 51, to: 60, hasNext: false });
  });

  it("clamps pages outside the list and handles an empty one", () => {
    expect(pageInfo(9, 25, 60).page).toBe(3);
    expect(pageInfo(0, 25, 60).page).toBe(1);
    expect(pageInfo(1, 25, 0)).toMatchObject({ page: 1, pages: 1, from: 0, to: 0, hasPrevious: false, hasNext: false });
  });

  it("has no next page when the list ends on a page boundary", () => {
    expect(pageInfo(1, 20, 20)).toMatchObject({ pages: 1, to: 20, hasNext: false });
    expect(pageInfo(2, 20, 45)).toMatchObject({ from: 21, to: 40, hasPrevious: true, hasNext: true });
  });

  it("slices a page's items", () => {
    const items = Array.from({ length: 60 }, (_, i) => i);
    expect(pageItems(items, pageInfo(3, 25, 60))).toEqual(items.slice(50));
    expect(pageItems([], pageInfo(1, 25, 0))).toEqual([]);
  });
});

describe("pageOffset", () => {
  it("asks the API for the page's first item", () => {
    expect(pageOffset(1, 20)).toBe(0);
    expect(pageOffset(3, 20)).toBe(40);
    expect(pageOffset(0, 20)).toBe(0);
  });
});

describe("pageSummary", () => {
  it("says which items are shown", () => {
    expect(pageSummary(pageInfo(1, 20, 45), "users", { locale: "en-US" })).toBe("Showing 1–20 of 45 users");
    expect(pageSummary(pageInfo(3, 20, 45), "users", { locale: "en-US" })).toBe("Showing 41–45 of 45 users");
    expect(pageSummary(pageInfo(2, 500, 1234), "rows", { locale: "en-US" })).toBe("Showing 501–1,000 of 1,234 rows");
  });

  it("names an empty list", () => {
    expect(pageSummary(pageInfo(1, 20, 0), "transactions")).toBe("No transactions");
  });
});
