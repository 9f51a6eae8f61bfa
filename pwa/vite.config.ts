/// <reference types="vitest/config" />
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';
import { VitePWA } from 'vite-plugin-pwa';

// The backend serves dist/ at "/" and the API under /api; `npm run dev` proxies to a local backend.
export default defineConfig({
  plugins: [
    preact(),
    VitePWA({
      registerType: 'autoUpdate',
      injectRegister: false, // registered in src/sw-register.ts
      includeAssets: ['favicon.svg', 'icons/*.png'],
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
  build: { target: 'es2020', sourcemap: false, chunkSizeWarningLimit: 200 },
  server: { proxy: { '/api': 'http://127.0.0.1:8000', '/health': 'http://127.0.0.1:8000' } },
  test: { environment: 'happy-dom', include: ['tests/**/*.test.ts'] },
});
