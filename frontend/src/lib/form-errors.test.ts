import { describe, expect, it } from "vitest";
import { ApiError } from "./api/client";
import { formErrors } from "./form-errors";

const FIELDS = ["coin", "kind", "quantity", "price", "fee", "executed_at", "note"] as const;

// Bodies as the server answers them (captured from a running `cryptopredict serve`).
const validation = ApiError.from(422, {
  error: {
    code: "validation_error",
    message: "Request validation failed",
    details: [
      { loc: ["body", "quantity"], msg: "Input should be greater than 0", type: "greater_than" },
      { loc: ["body", "price"], msg: "Input should be a plain decimal number", type: "x" },
      {
        loc: ["body", "executed_at"],
        msg: "Value error, Timestamp must not be in the future",
        type: "value_error",
      },
    ],
  },
});

describe("formErrors", () => {
  it("puts each 422 detail next to its field, tidied", () => {
    const { fields, message } = formErrors(validation, FIELDS);
    expect(fields).toEqual({
      quantity: "Input should be greater than 0",
      price: "Input should be a plain decimal number",
      executed_at: "Timestamp must not be in the future",
    });
    expect(message).toBe("Please correct the fields marked below.");
  });

  it("keeps the first message when a field has several", () => {
    const error = ApiError.from(422, {
      error: {
        code: "validation_error",
        message: "Request validation failed",
        details: [
          { loc: ["body", "price"], msg: "first", type: "a" },
          { loc: ["body", "price"], msg: "second", type: "b" },
        ],
      },
    });
    expect(formErrors(error, FIELDS).fields).toEqual({ price: "First" });
  });

  it("says in the alert what is about fields the form does not show", () => {
    const { fields, message } = formErrors(validation, ["quantity"] as const);
    expect(fields).toEqual({ quantity: "Input should be greater than 0" });
    expect(message).toBe(
      "price: Input should be a plain decimal number; executed_at: Timestamp must not be in the future",
    );
  });

  it("gives one message with every detail when nothing has fields (a confirm dialog)", () => {
    expect(formErrors(validation, []).message).toBe(
      "quantity: Input should be greater than 0; price: Input should be a plain decimal number; executed_at: Timestamp must not be in the future",
    );
    const refused = ApiError.from(409, {
      error: { code: "conflict", message: "An admin cannot demote themself", details: { field: "role" } },
    });
    expect(formErrors(refused, [])).toEqual({ fields: {}, message: "An admin cannot demote themself" });
  });

  it("keeps the API's own message when it names the problem", () => {
    const error = ApiError.from(422, {
      error: {
        code: "validation_error",
        message: "Unknown coin 'nocoin'",
        details: [{ loc: ["body", "coin"], msg: "Unknown coin", type: "unknown_coin" }],
      },
    });
    expect(formErrors(error, FIELDS)).toEqual({
      fields: { coin: "Unknown coin" },
      message: "Unknown coin 'nocoin'",
    });
  });

  it("shows a 422 about holdings (details not a list) in the alert", () => {
    const error = ApiError.from(422, {
      error: {
        code: "validation_error",
        message: "Cannot sell 1 BTC at 2024-01-02T09:00:00Z: only 0 held at that time",
        details: { coin: "bitcoin", available: "0", requested: "1", kind: "sell" },
      },
    });
    expect(formErrors(error, FIELDS)).toEqual({
      fields: {},
      message: "Cannot sell 1 BTC at 2024-01-02T09:00:00Z: only 0 held at that time",
    });
  });

  it("puts a conflict about a field next to it", () => {
    const error = ApiError.from(409, {
      error: {
        code: "conflict",
        message: "You already have a portfolio named 'Main'",
        details: { field: "name", name: "Main" },
      },
    });
    expect(formErrors(error, ["name", "description"] as const)).toEqual({
      fields: { name: "You already have a portfolio named 'Main'" },
      message: null,
    });
  });

  it("shows 401 and 409 without details in the alert", () => {
    const unauthorised = ApiError.from(401, {
      error: { code: "not_authenticated", message: "Incorrect email or password", details: null },
    });
    expect(formErrors(unauthorised, ["email", "password"] as const)).toEqual({
      fields: {},
      message: "Incorrect email or password",
    });
  });

  it("ignores details about the query or path and says something for a network error", () => {
    const error = ApiError.from(422, {
      error: {
        code: "validation_error",
        message: "Request validation failed",
        details: [{ loc: ["path", "portfolio_id"], msg: "Input should be a valid integer" }],
      },
    });
    expect(formErrors(error, FIELDS).message).toBe("Input should be a valid integer");
    expect(formErrors(new TypeError("Failed to fetch"), FIELDS).message).toBe(
      "The server could not be reached. Is it running?",
    );
  });
});
