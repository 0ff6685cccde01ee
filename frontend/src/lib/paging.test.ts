import { describe, expect, it } from "vitest";
import { pageInfo, pageItems } from "./paging";

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

  it("slices a page's items", () => {
    const items = Array.from({ length: 60 }, (_, i) => i);
    expect(pageItems(items, pageInfo(3, 25, 60))).toEqual(items.slice(50));
    expect(pageItems([], pageInfo(1, 25, 0))).toEqual([]);
  });
});
