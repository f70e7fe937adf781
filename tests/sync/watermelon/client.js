#!/usr/bin/env node
'use strict'

/*
 * Fieldline sync test harness: a real WatermelonDB client (LokiJS adapter,
 * in-memory, no web worker) driven over a JSON-lines RPC on stdin/stdout.
 *
 * One JSON command per stdin line -> exactly one JSON response line on stdout:
 *   {"ok": true, "result": ...}  or  {"ok": false, "error": "message", ...}
 * Everything else (Watermelon's and Loki's console output, our own logs) goes
 * to stderr. See README.md for the command reference.
 */

// ---------------------------------------------------------------------------
// stdout belongs to the RPC protocol. Grab a private writer for responses and
// route every other stdout write (console.log/info/debug from Watermelon,
// LokiJS, or anything else) to stderr *before* loading any library.
// ---------------------------------------------------------------------------
const rpcWrite = process.stdout.write.bind(process.stdout)
process.stdout.write = (chunk, encoding, cb) => process.stderr.write(chunk, encoding, cb)

// Collect warnings/errors that Watermelon logs while a command runs, so a test
// can assert e.g. that no "[Sync] Server wants client to create record ...
// but it already exists locally" was logged.
let collected = null
const util = require('util')
const toStderr = (level) => (...args) => {
  const text = util.format(...args)
  // first line only (Watermelon's diagnostic errors carry a stack); full text is on stderr
  if (collected && (level === 'warn' || level === 'error')) collected.push(`${level}: ${text.split('\n')[0]}`)
  process.stderr.write(`[client.js ${level}] ${text}\n`)
}
console.log = toStderr('log')
console.info = toStderr('info')
console.debug = toStderr('debug')
console.warn = toStderr('warn')
console.error = toStderr('error')

const readline = require('readline')
const { createRequire } = require('module')

const { Database, Model, appSchema, tableSchema } = require('@nozbe/watermelondb')
const { schemaMigrations } = require('@nozbe/watermelondb/Schema/migrations')
const LokiJSAdapter = require('@nozbe/watermelondb/adapters/lokijs').default
const { synchronize, hasUnsyncedChanges } = require('@nozbe/watermelondb/sync')
const syncImpl = require('@nozbe/watermelondb/sync/impl')

// `lokijs` is WatermelonDB's own dependency (an npm alias of @nozbe/lokijs);
// resolve it the way Watermelon does instead of declaring a second copy.
const requireFromWatermelon = createRequire(require.resolve('@nozbe/watermelondb/package.json'))
const { LokiMemoryAdapter } = requireFromWatermelon('lokijs')

const MAX_SYNC_ROUNDS = 1000
const INTERNAL_FIELDS = ['_status', '_changed']

class HttpError extends Error {
  constructor(method, url, status, body) {
    super(`HTTP ${status} from ${method} ${url}: ${typeof body === 'string' ? body : JSON.stringify(body)}`)
    this.status = status
    this.body = body
  }
}

// Thrown from pushChanges while the server still has pull pages to send; see sync().
class DeferPush extends Error {}

const state = {
  db: null,
  base: null,
  token: null,
  schemaJson: null,
  migrationsEnabledAtVersion: 1,
}

// --------------------------------------------------------------------------- helpers

function requireDb() {
  if (!state.db) throw new Error('not initialised: send {"cmd": "init", ...} first')
  return state.db
}

function collectionFor(table) {
  const db = requireDb()
  if (typeof table !== 'string' || !Object.prototype.hasOwnProperty.call(db.schema.tables, table)) {
    throw new Error(`unknown table ${JSON.stringify(table)}`)
  }
  return db.get(table)
}

function rawOut(record, internal) {
  const raw = Object.assign({}, record._raw)
  if (!internal) INTERNAL_FIELDS.forEach((f) => delete raw[f])
  return raw
}

function setValues(record, table, values, { allowId }) {
  if (values === undefined || values === null) return
  if (typeof values !== 'object' || Array.isArray(values)) throw new Error('"values" must be an object')
  const columns = state.db.schema.tables[table].columns
  for (const [key, value] of Object.entries(values)) {
    if (key === 'id') {
      if (!allowId) throw new Error('cannot change "id" of an existing record')
      if (typeof value !== 'string' || !value) throw new Error('"id" must be a non-empty string')
      record._raw.id = value
      continue
    }
    if (INTERNAL_FIELDS.includes(key)) throw new Error(`cannot set internal field ${key}`)
    if (!Object.prototype.hasOwnProperty.call(columns, key)) {
      throw new Error(`unknown column ${JSON.stringify(key)} for table ${table}`)
    }
    record._setRaw(key, value)
  }
}

function buildSchema(schemaJson) {
  if (!schemaJson || typeof schemaJson !== 'object') throw new Error('"schema" must be an object')
  const { version, tables } = schemaJson
  if (!Number.isInteger(version) || version < 1) throw new Error('"schema.version" must be an integer >= 1')
  if (!tables || typeof tables !== 'object') throw new Error('"schema.tables" must be an object')
  const tableSchemas = Object.entries(tables).map(([name, spec]) =>
    tableSchema({
      name,
      columns: (spec.columns || []).map((c) => {
        const column = { name: c.name, type: c.type }
        if (c.isOptional) column.isOptional = true
        if (c.isIndexed) column.isIndexed = true
        return column
      }),
    }),
  )
  return appSchema({ version, tables: tableSchemas })
}

// Migrations must cover 1..schema.version (the adapter insists maxVersion ===
// schema.version). The harness never upgrades a database in place, so every
// step list is empty; they exist only so that synchronize() accepts
// `migrationsEnabledAtVersion` and can compute the `migration` pull argument.
function buildMigrations(version) {
  const migrations = []
  for (let v = 2; v <= version; v += 1) migrations.push({ toVersion: v, steps: [] })
  return schemaMigrations({ migrations })
}

async function http(method, pathAndQuery, { body, headers } = {}) {
  if (!state.base) throw new Error('no base URL: send init first')
  const url = state.base.replace(/\/+$/, '') + pathAndQuery
  const reqHeaders = Object.assign({ Accept: 'application/json' }, headers)
  if (state.token) reqHeaders.Authorization = `Bearer ${state.token}`
  if (body !== undefined) reqHeaders['Content-Type'] = 'application/json'
  let response
  try {
    response = await fetch(url, {
      method,
      headers: reqHeaders,
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch (error) {
    // undici hides the useful part (ECONNREFUSED, ...) in `cause`
    const cause = error && error.cause ? `: ${error.cause.code || error.cause.message || error.cause}` : ''
    throw new Error(`${method} ${url} failed${cause}`)
  }
  const text = await response.text()
  let parsed = text
  try {
    parsed = text ? JSON.parse(text) : null
  } catch (e) {
    // keep the text
  }
  if (response.status < 200 || response.status > 299) throw new HttpError(method, url, response.status, parsed)
  if (typeof parsed !== 'object' || parsed === null) {
    throw new HttpError(method, url, response.status, `expected a JSON object, got: ${text.slice(0, 500)}`)
  }
  return parsed
}

// --------------------------------------------------------------------------- commands

async function cmdInit(msg) {
  if (typeof msg.base !== 'string' || !/^https?:\/\//.test(msg.base)) throw new Error('"base" must be an http(s) URL')
  const schema = buildSchema(msg.schema)
  const migrationsEnabledAtVersion = msg.migrations_enabled_at_version ?? 1
  const adapter = new LokiJSAdapter({
    schema,
    migrations: buildMigrations(schema.version),
    dbName: `fieldline-harness-${process.pid}-${Date.now()}`,
    useWebWorker: false,
    // No IndexedDB in Node; `true` only silences the deprecation warning for
    // `false`. The explicit memory adapter below is what's actually used.
    useIncrementalIndexedDB: true,
    _testLokiAdapter: new LokiMemoryAdapter(),
    // In-memory only: no autosave timer keeping the event loop busy.
    extraLokiOptions: { autosave: false },
    onSetUpError: (error) => console.error('LokiJS setup failed', error),
  })
  const modelClasses = Object.keys(schema.tables).map((table) => {
    const cls = class extends Model {}
    cls.table = table
    cls.associations = {}
    Object.defineProperty(cls, 'name', { value: `HarnessModel_${table}` })
    return cls
  })
  state.db = new Database({ adapter, modelClasses })
  state.base = msg.base
  state.token = msg.token ?? null
  state.schemaJson = msg.schema
  state.migrationsEnabledAtVersion = migrationsEnabledAtVersion
  // Fail init (not the first later command) if the adapter could not set up.
  await state.db.read(async () => state.db.adapter.getLocal('__harness_probe'))
  return { tables: Object.keys(schema.tables).sort(), schema_version: schema.version }
}

async function cmdSync(msg) {
  const db = requireDb()
  const idempotencyKey = msg.idempotency_key ?? null
  const sendCreatedAsUpdated = !!msg.send_created_as_updated
  let lastPull = null
  let strategy = null
  let pushedChanges = null
  let pushResponse = null
  let pulls = 0
  const resolvedConflicts = []

  const pullChanges = async ({ lastPulledAt, schemaVersion, migration }) => {
    const params = new URLSearchParams()
    if (lastPulledAt !== null && lastPulledAt !== undefined) params.set('last_pulled_at', String(lastPulledAt))
    params.set('schema_version', String(schemaVersion))
    if (migration) params.set('migration', JSON.stringify(migration))
    const answer = await http('GET', `/api/v1/sync/pull/?${params}`)
    pulls += 1
    lastPull = answer
    if (answer.experimentalStrategy) strategy = answer.experimentalStrategy
    const result = { changes: answer.changes, timestamp: answer.timestamp }
    if (answer.experimentalStrategy) result.experimentalStrategy = answer.experimentalStrategy
    return result
  }

  const pushChanges = async ({ changes, lastPulledAt }) => {
    // Push only once the pull is complete: pushing with the timestamp of an
    // intermediate page would make the server see its own not-yet-pulled
    // changes as conflicts. Throwing here (after the pull was committed
    // locally) leaves every local change untouched for the next round.
    if (lastPull && lastPull.has_more) throw new DeferPush('deferred until the last pull page')
    const headers = {}
    if (idempotencyKey) headers['Idempotency-Key'] = String(idempotencyKey)
    const answer = await http('POST', `/api/v1/sync/push/?last_pulled_at=${encodeURIComponent(lastPulledAt)}`, {
      body: { changes, lastPulledAt },
      headers,
    })
    pushedChanges = changes
    pushResponse = answer
    return { experimentalRejectedIds: answer.experimentalRejectedIds || {} }
  }

  let rounds = 0
  for (;;) {
    rounds += 1
    if (rounds > MAX_SYNC_ROUNDS) throw new Error(`server still says has_more after ${MAX_SYNC_ROUNDS} pull rounds`)
    const log = {}
    try {
      await synchronize({
        database: db,
        pullChanges,
        pushChanges,
        migrationsEnabledAtVersion: state.migrationsEnabledAtVersion,
        sendCreatedAsUpdated,
        log,
      })
    } catch (error) {
      if (!(error instanceof DeferPush)) throw error
    }
    if (log.resolvedConflicts) resolvedConflicts.push(...log.resolvedConflicts)
    if (!(lastPull && lastPull.has_more)) break
  }

  const pushed = {}
  if (pushedChanges) {
    for (const [table, { created, updated, deleted }] of Object.entries(pushedChanges)) {
      if (created.length + updated.length + deleted.length) {
        pushed[table] = { created: created.length, updated: updated.length, deleted: deleted.length }
      }
    }
  }
  const result = {
    pulls,
    pushed,
    rejected: (pushResponse && pushResponse.experimentalRejectedIds) || {},
    last_pulled_at: await syncImpl.getLastPulledAt(db),
  }
  if (strategy) result.strategy = strategy
  // Extras (not part of Watermelon's contract, handy for assertions):
  if (pushResponse && pushResponse.rejections) result.rejections = pushResponse.rejections
  if (resolvedConflicts.length) result.resolved_conflicts = resolvedConflicts
  return result
}

async function cmdCreate(msg) {
  const collection = collectionFor(msg.table)
  const db = requireDb()
  const record = await db.write(() =>
    collection.create((r) => {
      setValues(r, msg.table, msg.values, { allowId: true })
    }),
  )
  return rawOut(record, msg.internal)
}

async function findOrNull(collection, id) {
  if (typeof id !== 'string') throw new Error('"id" must be a string')
  try {
    return await collection.find(id)
  } catch (error) {
    if (/not found/i.test(String(error && error.message))) return null
    throw error
  }
}

async function cmdUpdate(msg) {
  const collection = collectionFor(msg.table)
  const db = requireDb()
  const record = await findOrNull(collection, msg.id)
  if (!record) throw new Error(`${msg.table}#${msg.id} not found`)
  await db.write(() =>
    record.update((r) => {
      setValues(r, msg.table, msg.values, { allowId: false })
    }),
  )
  return rawOut(record, msg.internal)
}

async function cmdDelete(msg) {
  const collection = collectionFor(msg.table)
  const db = requireDb()
  const record = await findOrNull(collection, msg.id)
  if (!record) throw new Error(`${msg.table}#${msg.id} not found`)
  await db.write(() => record.markAsDeleted())
  return { id: msg.id, deleted: true }
}

async function cmdQuery(msg) {
  const collection = collectionFor(msg.table)
  const records = await collection.query().fetch()
  return records.map((r) => rawOut(r, msg.internal)).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
}

async function cmdGet(msg) {
  const collection = collectionFor(msg.table)
  const record = await findOrNull(collection, msg.id)
  if (!record) return null
  // find() also returns records that are locally marked as deleted
  if (record._raw._status === 'deleted' && !msg.internal) return null
  return rawOut(record, msg.internal)
}

async function cmdPendingChanges() {
  const { changes } = await syncImpl.fetchLocalChanges(requireDb())
  const out = {}
  for (const [table, set] of Object.entries(changes)) {
    if (set.created.length + set.updated.length + set.deleted.length) out[table] = set
  }
  return out
}

const commands = {
  init: cmdInit,
  set_token: async (msg) => {
    state.token = msg.token ?? null
    return true
  },
  sync: cmdSync,
  create: cmdCreate,
  update: cmdUpdate,
  delete: cmdDelete,
  query: cmdQuery,
  get: cmdGet,
  local_changes: async () => hasUnsyncedChanges({ database: requireDb() }),
  // Extra: exactly what the next push would send (tables with changes only).
  pending_changes: cmdPendingChanges,
  last_pulled_at: async () => syncImpl.getLastPulledAt(requireDb()),
  ping: async () => 'pong',
}

// --------------------------------------------------------------------------- main loop

function respond(obj) {
  return new Promise((resolve) => rpcWrite(`${JSON.stringify(obj)}\n`, resolve))
}

process.on('unhandledRejection', (reason) => {
  process.stderr.write(`[client.js] unhandled rejection: ${reason && reason.stack ? reason.stack : reason}\n`)
})

async function main() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false })
  for await (const line of rl) {
    if (!line.trim()) continue
    let msg
    try {
      msg = JSON.parse(line)
      if (!msg || typeof msg !== 'object' || typeof msg.cmd !== 'string') throw new Error('missing "cmd"')
    } catch (error) {
      await respond({ ok: false, error: `bad command line: ${error.message}` })
      continue
    }
    if (msg.cmd === 'quit') {
      await respond({ ok: true, result: null })
      process.exit(0)
    }
    const handler = commands[msg.cmd]
    if (!handler) {
      await respond({ ok: false, error: `unknown cmd ${JSON.stringify(msg.cmd)}` })
      continue
    }
    collected = []
    try {
      const result = await handler(msg)
      const response = { ok: true, result: result === undefined ? null : result }
      if (msg.cmd === 'sync' && result && typeof result === 'object') result.warnings = collected
      await respond(response)
    } catch (error) {
      process.stderr.write(`[client.js] ${msg.cmd} failed: ${error && error.stack ? error.stack : error}\n`)
      const response = { ok: false, error: String((error && error.message) || error) }
      if (error instanceof HttpError) {
        response.status = error.status
        response.body = error.body
      }
      if (collected.length) response.warnings = collected
      await respond(response)
    } finally {
      collected = null
    }
  }
  process.exit(0) // stdin closed
}

main().catch((error) => {
  process.stderr.write(`[client.js] fatal: ${error && error.stack ? error.stack : error}\n`)
  process.exit(1)
})
