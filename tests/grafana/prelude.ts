// Prepended to each dashboard by tests/integration/alerting.rs, which type-checks
// `export const dashboard: Json<Dashboard> = <the dashboard JSON>;` with tsc --strict, so that
// object-literal checks apply: unknown keys, missing required keys, wrong types and values.
import type { Dashboard } from '@grafana/schema';

// JSON has no enums: a string enum of the schema is checked as the union of its values.
export type Json<T> = T extends string
  ? `${T}`
  : T extends (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;
