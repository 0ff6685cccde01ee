import { resolve } from "node:path";

/** Where the tests leave the server's log and the pages' screenshots. */
export const ARTIFACTS = resolve(import.meta.dirname, "artifacts");
export const SCREENSHOTS = resolve(ARTIFACTS, "screenshots");
/** The coin whose page the tests open (its forecasts are awaited before they start). */
export const FORECAST_COIN = "bitcoin";
