// A PGlite (PostgreSQL compiled to WebAssembly) server with the pgvector extension,
// speaking the PostgreSQL wire protocol on 127.0.0.1, for the pgvector tests
// (scripts/pglite.sh starts it; Go tests reach it through VIBECODER_TEST_PGVECTOR_URL).
//
// PGlite is one single-user backend: every connection is the same session, and the socket
// server runs one query at a time (a transaction's queries before anyone else's). The Go
// side uses a pool of one connection and test/pglite's lock, so one client at a time. The
// server itself accepts a few sockets, not one: it notices a closed socket asynchronously,
// and with maxConnections 1 a client that reconnects at once is refused ("Too many
// connections"). The database lives in memory and is gone when the process exits.
//
//   node server.mjs [--port 54329|0] [--host 127.0.0.1] [--owner PID]
//
// It prints "pglite listening on HOST:PORT" once ready (port 0 picks a free one) and, with
// --owner, exits when that process is gone, so a test run never leaves it behind.
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'

function arg(name, def) {
  const i = process.argv.indexOf(name)
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def
}

const port = Number(arg('--port', process.env.PGLITE_PORT || '54329'))
const host = arg('--host', '127.0.0.1')
const owner = Number(arg('--owner', '0'))

const db = await PGlite.create({ extensions: { vector } })
// Installed once, in public, the way a DBA would: the application finds it there and
// qualifies the type and operators with the extension's schema.
await db.exec('CREATE EXTENSION IF NOT EXISTS vector')
const server = new PGLiteSocketServer({ db, port, host, maxConnections: 4 })
await server.start()
console.log(`pglite listening on ${server.getServerConn()}`)

async function stop() {
  await server.stop()
  await db.close()
  process.exit(0)
}
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
if (owner > 0) {
  setInterval(() => {
    try {
      process.kill(owner, 0)
    } catch {
      stop()
    }
  }, 1000).unref()
}
