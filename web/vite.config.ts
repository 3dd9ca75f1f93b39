// The browser explorer: built into web/dist and served by `trustgc explore`.
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4000 },
  server: { proxy: { '/v1': 'http://127.0.0.1:8080', '/model': 'http://127.0.0.1:8080' } },
});
