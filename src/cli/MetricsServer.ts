/**
 * `--metrics-port`: the process's Effect Metrics in Prometheus text format at `GET /metrics`,
 * served by @effect/platform's HTTP server on Node. Anything else is 404.
 */
import { HttpRouter, HttpServer, HttpServerResponse } from "@effect/platform"
import { NodeHttpServer } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as http from "node:http"
import * as Prometheus from "./Prometheus.js"
import { StartupError } from "./StartupError.js"

/** Where the endpoint listens. */
export interface Options {
  readonly port: number
  readonly host: string
}

/** The scrape endpoint. */
export const app = HttpRouter.empty.pipe(
  HttpRouter.get(
    "/metrics",
    Effect.map(Prometheus.text, (body) => HttpServerResponse.text(body, { contentType: Prometheus.contentType }))
  )
)

/** The URL a scraper uses for a bound address. */
export const url = (address: HttpServer.Address): string =>
  address._tag === "TcpAddress"
    ? `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}/metrics`
    : `unix:${address.path}`

/** Serves `/metrics` on `options` until the scope closes; logs its URL once listening. */
export const layer = (options: Options): Layer.Layer<never, StartupError> =>
  Layer.mergeAll(
    HttpServer.serve(app),
    Layer.effectDiscard(Effect.flatMap(HttpServer.HttpServer, (server) => Effect.log(`metrics on ${url(server.address)}`)))
  ).pipe(
    Layer.provide(NodeHttpServer.layer(() => http.createServer(), { port: options.port, host: options.host })),
    Layer.mapError((error) =>
      StartupError.listen(`cannot serve metrics on ${options.host}:${options.port}: ${describe(error.cause)}`, error)
    )
  )

const describe = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)
