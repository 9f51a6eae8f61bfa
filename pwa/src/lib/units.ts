// Exact conversions between what people type and the integers the backend stores.
// Energy is integer Wh and money integer fen everywhere: never multiply a float by 1000 or 100
// (0.29 * 100 = 28.999999999999996), parse the digits instead.

/** "12345.67" (kWh, as read off the register) → 12345670 Wh; null when it is not a reading. */
export function parseKwh(text: string): number | null {
  return parseDecimal(text, 3);
}

/** "50" or "50.5" (yuan) → 5000 or 5050 fen; null when it is not an amount. */
export function parseYuan(text: string): number | null {
  return parseDecimal(text, 2);
}

function parseDecimal(text: string, places: number): number | null {
  const m = /^\s*(\d{1,12})(?:[.,](\d*))?\s*$/.exec(text);
  if (!m) return null;
  const fraction = m[2] ?? '';
  if (fraction.length > places) return null;
  const value = Number(m[1]) * 10 ** places + Number(fraction.padEnd(places, '0') || '0');
  return Number.isSafeInteger(value) ? value : null;
}

/** Great-circle distance in metres (haversine); good to a few metres at city scale. */
export function distanceM(a: { lat: number; lon: number }, b: { lat: number; lon: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6_371_008.8 * Math.asin(Math.min(1, Math.sqrt(h)));
}
