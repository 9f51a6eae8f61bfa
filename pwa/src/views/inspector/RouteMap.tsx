// The route on a map (Leaflet, loaded only when this screen opens). Tiles come from
// VITE_TILE_URL at build time (e.g. an OSM-style https://tile.example/{z}/{x}/{y}.png); without
// one the map is a blank background with the route, the meters and the inspector on it, which is
// enough to find the next door. The list view never depends on the map.
import 'leaflet/dist/leaflet.css';
import L from 'leaflet';
import { useLocation } from 'preact-iso';
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../../i18n';
import { position, useGeolocation } from '../../lib/geo';
import { Loading } from '../common';
import { book, isDone } from './book';
import { Progress } from './RouteList';

const TILE_URL: string = import.meta.env.VITE_TILE_URL ?? '';
const TILE_ATTRIBUTION: string = import.meta.env.VITE_TILE_ATTRIBUTION ?? '';

export function RouteMap() {
  useGeolocation();
  const { route } = useLocation();
  const el = useRef<HTMLDivElement>(null);
  const [map, setMap] = useState<{ m: L.Map; stops: L.LayerGroup; you: L.LayerGroup } | null>(null);
  const b = book.value;
  const fix = position.value;

  // the map element exists once the book is there; the layers are redrawn whenever it or the
  // position changes
  useEffect(() => {
    if (!el.current) return;
    const m = L.map(el.current, { zoomControl: true, attributionControl: Boolean(TILE_URL) });
    if (TILE_URL) L.tileLayer(TILE_URL, { maxZoom: 19, attribution: TILE_ATTRIBUTION }).addTo(m);
    m.setView([31.23, 121.47], 15);
    setMap({ m, stops: L.layerGroup().addTo(m), you: L.layerGroup().addTo(m) });
    return () => {
      m.remove();
      setMap(null);
    };
  }, [b !== null]);

  useEffect(() => {
    if (!map || !b) return;
    map.stops.clearLayers();
    const points: L.LatLngExpression[] = [];
    for (const item of b.items) {
      const lat = item.meter?.latitude ?? item.customer.latitude;
      const lon = item.meter?.longitude ?? item.customer.longitude;
      if (lat === null || lon === null) continue;
      points.push([lat, lon]);
      const done = isDone(item);
      L.circleMarker([lat, lon], { radius: 11, color: '#fff', weight: 2, fillColor: done ? '#0d6b36' : '#0b5cad', fillOpacity: 1, className: 'stop-marker' })
        .bindTooltip(`${item.seq}. ${item.customer.name}${done ? ' ✓' : ''}`, { direction: 'top' })
        .on('click', () => route(`/inspector/meter/${item.seq}`))
        .addTo(map.stops);
    }
    if (points.length > 1) L.polyline(points, { color: '#0b5cad', weight: 2, dashArray: '6 6', interactive: false }).addTo(map.stops);
    if (points.length) map.m.fitBounds(L.latLngBounds(points), { padding: [24, 24], maxZoom: 18 });
  }, [b, map]);

  useEffect(() => {
    if (!map || !fix) return;
    map.you.clearLayers();
    L.circle([fix.lat, fix.lon], { radius: fix.accuracy, color: '#b00020', weight: 1, fillOpacity: 0.1, interactive: false }).addTo(map.you);
    L.circleMarker([fix.lat, fix.lon], { radius: 7, color: '#fff', weight: 2, fillColor: '#b00020', fillOpacity: 1, className: 'you-marker' })
      .bindTooltip(t('map.you'))
      .addTo(map.you);
  }, [fix, map]);

  if (!b) return <Loading />;
  return (
    <section aria-labelledby="map-title">
      <h1 id="map-title">{t('insp.tab.map')}</h1>
      <Progress />
      <div ref={el} class="map" role="application" aria-label={t('map.label')} />
      <p class="muted">
        <span class="dot todo" /> {t('insp.todo')} <span class="dot done-dot" /> {t('insp.locked')} <span class="dot you" /> {t('map.you')}
        {!TILE_URL && ` · ${t('map.notiles')}`}
      </p>
    </section>
  );
}
