import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Memory tests collect garbage before they sample, so they measure what is alive.
    poolOptions: { forks: { execArgv: ["--expose-gc"] } }
  }
})
