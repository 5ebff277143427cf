// Builds the dashboard (web/) into web/dist; scripts/postbuild.mjs copies it to dist/web, which the API
// serves at `/`. `npm run build:web` builds it alone. Relative asset URLs so any mount path works.
import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: './',
  plugins: [vue()],
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 200 },
  server: {
    // `npx vite web` during development proxies the API of a running `aos start`
    proxy: { '/api': { target: process.env.AOS_URL ?? 'http://127.0.0.1:7878', changeOrigin: false } },
  },
});
