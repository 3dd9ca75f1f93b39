export type ChromiumFound = { path: string; source: string; error?: undefined } | { error: string; path?: undefined; source?: undefined };
export function findChromium(options?: { install?: boolean }): Promise<ChromiumFound>;
