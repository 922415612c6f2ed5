// Types for stats.mjs, so the TypeScript unit tests can import it under strict mode.
export interface Summary {
  n: number;
  median: number | null;
  p10: number | null;
  p90: number | null;
  min: number | null;
  max: number | null;
}
export function quantile(values: ReadonlyArray<number | null | undefined>, q: number): number | null;
export function median(values: ReadonlyArray<number | null | undefined>): number | null;
export function pairedRatios(a: ReadonlyArray<number | null | undefined>, b: ReadonlyArray<number | null | undefined>): number[];
export function summarize(values: ReadonlyArray<number | null | undefined>): Summary;
export function rotate<T>(list: readonly T[], k: number): T[];
export function parsePhaseLines(text: string): Record<string, number>;
export function parseRssMarker(text: string, marker: string): number | null;
export function stripTimeOutput(text: string, marker: string): string;
