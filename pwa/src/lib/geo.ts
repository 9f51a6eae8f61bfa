// The inspector's position, shared by the map, the nearby pop-up and the capture screen.
// One watchPosition for all of them, running while at least one screen needs it.
import { signal } from '@preact/signals';
import { useEffect } from 'preact/hooks';

export interface Fix {
  lat: number;
  lon: number;
  accuracy: number; // metres, as the device reports it
  at: number; // epoch ms of the fix
}

export const position = signal<Fix | null>(null);
export const geoError = signal<'denied' | 'unavailable' | null>(null);

let users = 0;
let watchId: number | null = null;

function start(): void {
  if (!('geolocation' in navigator)) {
    geoError.value = 'unavailable';
    return;
  }
  watchId = navigator.geolocation.watchPosition(
    (p) => {
      geoError.value = null;
      position.value = { lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy, at: Math.round(p.timestamp) };
    },
    (err) => (geoError.value = err.code === err.PERMISSION_DENIED ? 'denied' : 'unavailable'),
    { enableHighAccuracy: true, maximumAge: 10_000, timeout: 60_000 },
  );
}

/** Keep the position fresh until the returned function is called (reference counted). */
export function acquireGeolocation(): () => void {
  if (users++ === 0) start();
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--users === 0 && watchId !== null) {
      navigator.geolocation.clearWatch(watchId);
      watchId = null;
    }
  };
}

/** Keep the position fresh while the calling component is mounted. */
export function useGeolocation(): void {
  useEffect(() => acquireGeolocation(), []);
}
