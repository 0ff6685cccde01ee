// Turn the API's error body into what a form shows: messages next to the fields they are
// about, and the rest in one alert. The API answers 422 with `details` listing the invalid
// fields ({loc: ["body", "price"], msg}), and a conflict on a field (409) with
// `details: {field: "name"}`; anything else is a message for the whole form.
import { ApiError, messageOf } from "./api/client";

export interface FormErrors<F extends string> {
  /** A message per field the form shows. */
  fields: Partial<Record<F, string>>;
  /** What to say above the form, or null when the field messages say it all. */
  message: string | null;
}

interface ValidationDetail {
  loc: unknown[];
  msg: string;
}

function isValidationDetail(value: unknown): value is ValidationDetail {
  if (typeof value !== "object" || value === null) return false;
  const { loc, msg } = value as { loc?: unknown; msg?: unknown };
  return Array.isArray(loc) && typeof msg === "string";
}

/** Pydantic's "Value error, ..." prefix adds nothing a reader needs. */
function tidy(message: string): string {
  const text = message.replace(/^(Value|Assertion) error, /, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The body field a validation detail is about ("price" for ["body", "price"]). */
function fieldOf(loc: unknown[]): string | null {
  if (loc[0] !== "body" || loc.length < 2) return null;
  const name = loc[1];
  return typeof name === "string" ? name : null;
}

const CHECK_FIELDS = "Please correct the fields marked below.";

/**
 * Map an error from a form's request onto the form's fields (`known`: the body fields the
 * form has an input for). Details about other fields join the alert's message.
 */
export function formErrors<F extends string>(error: unknown, known: readonly F[]): FormErrors<F> {
  const fields: Partial<Record<F, string>> = {};
  const isKnown = (name: string | null): name is F =>
    name !== null && (known as readonly string[]).includes(name);
  if (!(error instanceof ApiError)) return { fields, message: messageOf(error) };

  const { details } = error;
  if (Array.isArray(details) && details.every(isValidationDetail)) {
    const rest: string[] = [];
    for (const detail of details) {
      const name = fieldOf(detail.loc);
      if (isKnown(name)) fields[name] ??= tidy(detail.msg);
      else rest.push(name ? `${name}: ${tidy(detail.msg)}` : tidy(detail.msg));
    }
    if (rest.length > 0) {
      const lead = error.message === "Request validation failed" ? "" : `${error.message}: `;
      return { fields, message: `${lead}${rest.join("; ")}` };
    }
    if (Object.keys(fields).length === 0) return { fields, message: error.message };
    // A message of the API's own that names the problem (e.g. "Unknown coin 'x'") is worth
    // keeping; its generic one is not.
    const generic = error.message === "Request validation failed";
    return { fields, message: generic ? CHECK_FIELDS : error.message };
  }

  if (typeof details === "object" && details !== null && !Array.isArray(details)) {
    const field = (details as { field?: unknown }).field;
    if (typeof field === "string" && isKnown(field)) {
      fields[field] = error.message;
      return { fields, message: null };
    }
  }
  return { fields, message: error.message };
}

export const NO_ERRORS: FormErrors<never> = { fields: {}, message: null };
