/// <reference types="vitest/config" />
import preact from '@preact/preset-vite';
import { defineConfig, type Plugin } from 'vite';

// The app's own stylesheet is ~2 KB gzipped: inline it into index.html so the first paint does
// not wait for another round trip (lazy screens keep their CSS files: Leaflet, uPlot).
function inlineEntryCss(): Plugin {
  return {
    name: 'meterline-inline-entry-css',
    apply: 'build',
    enforce: 'post',
    transformIndexHtml: {
      order: 'post',
      handler(html, ctx) {
        const bundle = ctx.bundle ?? {};
        return html.replace(/<link rel="stylesheet"(?: crossorigin)? href="\/(assets\/[^"]+\.css)">/, (tag, file: string) => {
          const asset = bundle[file];
          return asset && asset.type === 'asset' ? `<style>${String(asset.source)}</style>` : tag;
        });
      },
    },
  };
}
import { VitePWA } from 'vite-plugin-pwa';

// The backend serves dist/ at "/" and the API under /api; `npm run dev` proxies to a local backend.
export default defineConfig({
  plugins: [
    preact(),
    inlineEntryCss(),
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: false, // registered in src/sw-register.ts
      manifest: {
        name: 'meterline 电力服务',
        short_name: 'meterline',
        description: 'Meter readings, prepaid balance and service-centre work in one app',
        lang: 'zh-CN',
        start_url: '/',
        scope: '/',
        display: 'standalone',
        orientation: 'portrait',
        background_color: '#ffffff',
        theme_color: '#0b5cad',
        icons: [
          { src: '/icons/icon-192.png', sizes: '192x192', type: 'image/png' },
          { src: '/icons/icon-512.png', sizes: '512x512', type: 'image/png' },
          { src: '/icons/icon-maskable-512.png', sizes: '512x512', type: 'image/png', purpose: 'maskable' },
        ],
      },
      workbox: {
        // take over the open page at once: the first visit is already installed for offline use
        clientsClaim: true,
        skipWaiting: true,
        navigateFallback: '/index.html',
        navigateFallbackDenylist: [/^\/api\//, /^\/schema/, /^\/health/],
        globPatterns: ['**/*.{js,css,html,svg,png,webmanifest}'],
        runtimeCaching: [
          {
            // map tiles: whatever tile server is configured; cached so a route stays usable offline
            urlPattern: ({ request }) => request.destination === 'image' && /\/\d+\/\d+\/\d+(@2x)?\.(png|jpg|webp)/.test(request.url),
            handler: 'CacheFirst',
            options: { cacheName: 'tiles', expiration: { maxEntries: 2000, maxAgeSeconds: 30 * 24 * 3600 } },
          },
        ],
      },
    }),
  ],
  build: { target: 'es2020', sourcemap: false, manifest: true, chunkSizeWarningLimit: 200 },
  server: { proxy: { '/api': 'http://127.0.0.1:8000', '/health': 'http://127.0.0.1:8000' } },
  test: { environment: 'happy-dom', include: ['tests/**/*.test.ts'] },
});
