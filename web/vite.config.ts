/**
 * Builds the dashboard from web/ into web/dist/, which the orchestrator serves at `/`
 * (src/server/static.ts). `npm run build` runs it; `npx vite --config web/vite.config.ts`
 * serves it with hot reload, proxying /v1 to a `gangway up` on 127.0.0.1:7400.
 */
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  plugins: [react()],
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Hashed file names under assets/ let the server cache them forever.
    assetsDir: 'assets',
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: {
    proxy: { '/v1': { target: 'http://127.0.0.1:7400', changeOrigin: false } },
  },
});
