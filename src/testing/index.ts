/** Test helpers: an in-memory transport and a scripted client, so hooks are tested without sockets. */
export * as MemoryTransport from "./MemoryTransport.js"
export * as TestClient from "./TestClient.js"
