// The adapter ships no types; it is imported only for its side effect (the time scale's
// date library).
declare module "chartjs-adapter-date-fns";
