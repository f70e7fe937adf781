#!/usr/bin/env node
'use strict'

/*
 * Self-check for the WatermelonDB harness (client.js) ONLY.
 *
 * It starts a throwaway in-process HTTP server, FakeSyncServer, that implements
 * a *minimal fake* of the Fieldline sync protocol (pull pages, push, schema),
 * then drives client.js over its JSON-lines RPC. It proves the harness works;
 * it says nothing about the real Django server, which the Python tests cover.
 *
 *   node tests/sync/watermelon/selfcheck.js          # exit 0 on success
 *   HARNESS_VERBOSE=1 node .../selfcheck.js           # also stream client stderr
 */

const assert = require('assert/strict')
const http = require('http')
const path = require('path')
const readline = require('readline')
const { spawn } = require('child_process')

const TOKEN = 'fake-token'
const VERBOSE = !!process.env.HARNESS_VERBOSE

// =========================================================================
// FakeSyncServer — NOT the real server. Just enough protocol to exercise the
// harness: paging (has_more), created/updated/deleted, rejections, bearer
// auth, Idempotency-Key, and a one-shot "replacement" pull.
// =========================================================================
class FakeSyncServer {
  constructor() {
    this.schema = {
      version: 1,
      tables: {
        accounts: {
          columns: [
            { name: 'name', type: 'string', isOptional: false, isIndexed: false },
            { name: 'revenue', type: 'number', isOptional: true, isIndexed: false },
            { name: 'is_active', type: 'boolean', isOptional: false, isIndexed: true },
          ],
        },
        notes: {
          columns: [
            { name: 'account_id', type: 'string', isOptional: true, isIndexed: true },
            { name: 'body', type: 'string', isOptional: false, isIndexed: false },
          ],
        },
      },
    }
    this.clock = 1000
    this.pageSize = 2
    this.rows = {} // table -> id -> {raw, createdAt, changedAt, deleted}
    for (const table of Object.keys(this.schema.tables)) this.rows[table] = new Map()
    this.pushes = [] // {query, headers, body}
    this.pulls = [] // query objects
    this.replacementOnce = false
  }

  tick() {
    this.clock += 1
    return this.clock
  }

  // origin 'client': the record came in through a push. Echoing it back later
  // as `updated` (not `created`) keeps Watermelon from logging "Server wants
  // client to create record ..., but it already exists locally".
  put(table, raw, origin = 'server') {
    const now = this.tick()
    const existing = this.rows[table].get(raw.id)
    const clean = { id: raw.id }
    for (const c of this.schema.tables[table].columns) clean[c.name] = c.name in raw ? raw[c.name] : existing ? existing.raw[c.name] : null
    this.rows[table].set(raw.id, {
      raw: clean,
      createdAt: existing && !existing.deleted ? existing.createdAt : origin === 'client' ? 0 : now,
      changedAt: now,
      deleted: false,
    })
  }

  remove(table, id) {
    const row = this.rows[table].get(id)
    if (row) Object.assign(row, { deleted: true, changedAt: this.tick() })
  }

  purge(table, id) {
    this.rows[table].delete(id) // gone without a tombstone
  }

  live(table) {
    return [...this.rows[table].values()].filter((r) => !r.deleted).map((r) => r.raw)
  }

  pull(query) {
    const since = query.last_pulled_at ? Number(query.last_pulled_at) : 0
    if (this.replacementOnce) {
      this.replacementOnce = false
      const changes = {}
      for (const table of Object.keys(this.rows)) changes[table] = { created: [], updated: this.live(table), deleted: [] }
      return { changes, timestamp: this.clock, has_more: false, experimentalStrategy: 'replacement' }
    }
    const pending = []
    for (const [table, rows] of Object.entries(this.rows)) {
      for (const row of rows.values()) if (row.changedAt > since) pending.push({ table, row })
    }
    pending.sort((a, b) => a.row.changedAt - b.row.changedAt)
    const page = pending.slice(0, this.pageSize)
    const hasMore = pending.length > page.length
    const changes = {}
    for (const table of Object.keys(this.rows)) changes[table] = { created: [], updated: [], deleted: [] }
    for (const { table, row } of page) {
      if (row.deleted) {
        if (since) changes[table].deleted.push(row.raw.id)
      } else if (!since || row.createdAt > since) {
        changes[table].created.push(row.raw)
      } else {
        changes[table].updated.push(row.raw)
      }
    }
    const timestamp = hasMore ? page[page.length - 1].row.changedAt : this.clock
    return { changes, timestamp, has_more: hasMore }
  }

  push(body) {
    const rejected = {}
    const rejections = {}
    const reject = (table, id, message) => {
      ;(rejected[table] = rejected[table] || []).push(id)
      rejections[table] = Object.assign(rejections[table] || {}, { [id]: { code: 'invalid', message } })
    }
    for (const [table, set] of Object.entries(body.changes)) {
      if (!this.rows[table]) continue
      for (const raw of [...set.created, ...set.updated]) {
        if (raw.name === 'REJECT') reject(table, raw.id, 'name REJECT is not allowed')
        else this.put(table, raw, 'client')
      }
      for (const id of set.deleted) this.remove(table, id)
    }
    return { experimentalRejectedIds: rejected, rejections }
  }

  handle(req, res, bodyText) {
    const url = new URL(req.url, 'http://fake')
    const query = Object.fromEntries(url.searchParams)
    const send = (status, obj) => {
      res.writeHead(status, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(obj))
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, { detail: 'bad token' })
    if (req.method === 'GET' && url.pathname === '/api/v1/sync/schema/') return send(200, this.schema)
    if (req.method === 'GET' && url.pathname === '/api/v1/sync/pull/') {
      this.pulls.push(query)
      return send(200, this.pull(query))
    }
    if (req.method === 'POST' && url.pathname === '/api/v1/sync/push/') {
      const body = JSON.parse(bodyText)
      this.pushes.push({ query, headers: req.headers, body: JSON.parse(bodyText) })
      if (String(body.lastPulledAt) !== query.last_pulled_at) return send(400, { detail: 'lastPulledAt mismatch' })
      return send(200, this.push(body))
    }
    return send(404, { detail: 'not found' })
  }

  listen() {
    this.server = http.createServer((req, res) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        try {
          this.handle(req, res, Buffer.concat(chunks).toString('utf8'))
        } catch (error) {
          res.writeHead(500)
          res.end(String(error.stack))
        }
      })
    })
    return new Promise((resolve) => {
      this.server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${this.server.address().port}`))
    })
  }

  close() {
    return new Promise((resolve) => this.server.close(resolve))
  }
}

// =========================================================================
// A tiny JSON-lines driver for client.js (what the Python side does too).
// =========================================================================
class Client {
  constructor() {
    this.stderr = []
    this.proc = spawn(process.execPath, [path.join(__dirname, 'client.js')], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.proc.stderr.on('data', (d) => {
      this.stderr.push(d.toString())
      if (VERBOSE) process.stderr.write(d)
    })
    this.waiters = []
    this.lines = []
    this.exit = new Promise((resolve) => this.proc.on('exit', (code) => resolve(code)))
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let parsed
      try {
        parsed = JSON.parse(line)
      } catch (error) {
        parsed = { ok: false, error: `NON-JSON STDOUT LINE: ${line}`, nonJson: true }
      }
      const waiter = this.waiters.shift()
      if (waiter) waiter(parsed)
      else this.lines.push(parsed)
    })
  }

  raw(msg) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting for ${msg.cmd}`)), 30000)
      this.waiters.push((r) => {
        clearTimeout(timer)
        resolve(r)
      })
      this.proc.stdin.write(`${JSON.stringify(msg)}\n`)
    })
  }

  async call(cmd, args = {}) {
    const response = await this.raw(Object.assign({ cmd }, args))
    assert.ok(!response.nonJson, response.error)
    if (!response.ok) throw new Error(`${cmd} failed: ${response.error}`)
    return response.result
  }
}

async function getJson(url) {
  const r = await fetch(url, { headers: { Authorization: `Bearer ${TOKEN}` } })
  assert.equal(r.status, 200)
  return r.json()
}

async function main() {
  const fake = new FakeSyncServer()
  fake.put('accounts', { id: 'acc1', name: 'Acme', revenue: 10.5, is_active: true })
  fake.put('accounts', { id: 'acc2', name: 'Globex', revenue: null, is_active: false })
  fake.put('notes', { id: 'note1', account_id: 'acc1', body: 'hello' })
  const base = await fake.listen()
  const client = new Client()
  const step = (name) => VERBOSE && process.stderr.write(`\n=== selfcheck: ${name}\n`)
  let passed = 0
  const check = async (name, fn) => {
    step(name)
    await fn()
    passed += 1
    process.stdout.write(`ok - ${name}\n`)
  }

  try {
    await check('init from the served schema', async () => {
      const schema = await getJson(`${base}/api/v1/sync/schema/`)
      const r = await client.call('init', { base, token: TOKEN, schema })
      assert.deepEqual(r.tables, ['accounts', 'notes'])
      assert.equal(await client.call('local_changes'), false)
    })

    await check('first sync pulls every page (has_more)', async () => {
      const r = await client.call('sync')
      assert.equal(r.pulls, 2) // 3 records, page size 2
      assert.deepEqual(r.pushed, {})
      assert.deepEqual(r.rejected, {})
      assert.equal(r.last_pulled_at, fake.clock)
      assert.equal(fake.pulls[0].last_pulled_at, undefined, 'first pull must omit last_pulled_at')
      assert.equal(fake.pulls[0].schema_version, '1')
      assert.equal(fake.pulls[0].migration, undefined)
      assert.equal(fake.pushes.length, 0)
      const accounts = await client.call('query', { table: 'accounts' })
      assert.deepEqual(accounts, [
        { id: 'acc1', name: 'Acme', revenue: 10.5, is_active: true },
        { id: 'acc2', name: 'Globex', revenue: null, is_active: false },
      ])
      assert.deepEqual(await client.call('get', { table: 'notes', id: 'note1' }), {
        id: 'note1',
        account_id: 'acc1',
        body: 'hello',
      })
      assert.equal(await client.call('local_changes'), false)
    })

    let localId
    await check('offline create, then sync pushes it once with Idempotency-Key', async () => {
      const rec = await client.call('create', { table: 'accounts', values: { name: 'Initech', is_active: true } })
      localId = rec.id
      assert.match(localId, /^[0-9A-Za-z]{16}$/)
      const forced = await client.call('create', { table: 'notes', values: { id: 'note-forced', body: 'x', account_id: localId } })
      assert.equal(forced.id, 'note-forced')
      assert.equal(await client.call('local_changes'), true)
      const r = await client.call('sync', { idempotency_key: 'key-1' })
      assert.equal(r.pulls, 1)
      assert.deepEqual(r.pushed, { accounts: { created: 1, updated: 0, deleted: 0 }, notes: { created: 1, updated: 0, deleted: 0 } })
      assert.deepEqual(r.rejected, {})
      assert.equal(fake.pushes.length, 1)
      const push = fake.pushes[0]
      assert.equal(push.headers['idempotency-key'], 'key-1')
      assert.equal(push.headers.authorization, `Bearer ${TOKEN}`)
      assert.equal(push.query.last_pulled_at, String(push.body.lastPulledAt))
      const sent = push.body.changes.accounts.created[0]
      assert.equal(sent._status, 'created')
      assert.equal(sent.name, 'Initech')
      assert.equal(fake.rows.accounts.get(localId).raw.name, 'Initech')
      assert.equal(await client.call('local_changes'), false)
      const accounts = await client.call('query', { table: 'accounts' })
      assert.deepEqual(accounts.map((a) => a.name).sort(), ['Acme', 'Globex', 'Initech'])
    })

    await check('update sends _changed columns; delete is pushed', async () => {
      const updated = await client.call('update', { table: 'accounts', id: 'acc1', values: { name: 'Acme Corp' }, internal: true })
      assert.equal(updated._status, 'updated')
      assert.equal(updated._changed, 'name')
      await client.call('delete', { table: 'notes', id: 'note1' })
      assert.equal(await client.call('get', { table: 'notes', id: 'note1' }), null)
      const before = fake.pushes.length
      const r = await client.call('sync')
      assert.deepEqual(r.pushed, { accounts: { created: 0, updated: 1, deleted: 0 }, notes: { created: 0, updated: 0, deleted: 1 } })
      const push = fake.pushes[before]
      assert.equal(push.body.changes.accounts.updated[0]._changed, 'name')
      assert.deepEqual(push.body.changes.notes.deleted, ['note1'])
      assert.equal(fake.rows.notes.get('note1').deleted, true)
      assert.equal(fake.rows.accounts.get('acc1').raw.name, 'Acme Corp')
      assert.equal(await client.call('local_changes'), false)
    })

    let badId
    await check('rejected ids stay dirty locally and are pushed again next time', async () => {
      const rec = await client.call('create', { table: 'accounts', values: { name: 'REJECT', is_active: false } })
      badId = rec.id
      const r = await client.call('sync')
      assert.deepEqual(r.rejected, { accounts: [badId] })
      assert.equal(r.rejections.accounts[badId].code, 'invalid')
      assert.equal(await client.call('local_changes'), true)
      assert.equal((await client.call('get', { table: 'accounts', id: badId, internal: true }))._status, 'created')
      await client.call('update', { table: 'accounts', id: badId, values: { name: 'Fixed' } })
      const r2 = await client.call('sync')
      assert.deepEqual(r2.rejected, {})
      assert.deepEqual(r2.pushed, { accounts: { created: 1, updated: 0, deleted: 0 } })
      assert.equal(fake.rows.accounts.get(badId).raw.name, 'Fixed')
      assert.equal(await client.call('local_changes'), false)
    })

    await check('server changes are pulled across pages; push waits for the last page', async () => {
      fake.put('accounts', { id: 'acc2', name: 'Globex 2', is_active: true })
      fake.put('accounts', { id: 'acc3', name: 'Hooli', is_active: true })
      fake.put('notes', { id: 'note2', account_id: 'acc3', body: 'n2' })
      fake.remove('accounts', localId)
      await client.call('create', { table: 'notes', values: { body: 'during paging' } })
      const pushesBefore = fake.pushes.length
      const r = await client.call('sync')
      // 5 changes since the last pull (4 above + the echo of the last push), page size 2
      assert.equal(r.pulls, 3)
      assert.equal(fake.pushes.length, pushesBefore + 1, 'exactly one push per sync command')
      assert.equal(fake.pushes[pushesBefore].body.lastPulledAt, r.last_pulled_at)
      assert.deepEqual(r.warnings, [], `unexpected Watermelon warnings: ${r.warnings}`)
      const accounts = await client.call('query', { table: 'accounts' })
      assert.deepEqual(
        accounts.map((a) => `${a.id}:${a.name}`).sort(),
        ['acc1:Acme Corp', 'acc2:Globex 2', 'acc3:Hooli', `${badId}:Fixed`].sort(),
      )
      assert.equal(await client.call('get', { table: 'accounts', id: localId }), null)
      assert.equal(await client.call('local_changes'), false)
    })

    await check('replacement strategy drops records the snapshot omits', async () => {
      fake.purge('accounts', 'acc3')
      fake.replacementOnce = true
      const r = await client.call('sync')
      assert.equal(r.strategy, 'replacement')
      assert.equal(await client.call('get', { table: 'accounts', id: 'acc3' }), null)
      assert.equal((await client.call('query', { table: 'accounts' })).length, 3)
    })

    await check('non-2xx answers fail the command with status and body', async () => {
      await client.call('set_token', { token: 'wrong' })
      const r = await client.raw({ cmd: 'sync' })
      assert.equal(r.ok, false)
      assert.equal(r.status, 401)
      assert.deepEqual(r.body, { detail: 'bad token' })
      assert.match(r.error, /HTTP 401/)
      await client.call('set_token', { token: TOKEN })
      assert.equal((await client.call('sync')).pulls, 1)
    })

    await check('bad commands get one error line each', async () => {
      assert.equal((await client.raw({ cmd: 'nope' })).ok, false)
      assert.equal((await client.raw({ cmd: 'query', table: 'missing' })).ok, false)
      assert.equal((await client.raw({ cmd: 'update', table: 'accounts', id: 'acc1', values: { bogus: 1 } })).ok, false)
      assert.equal(await client.call('ping'), 'pong')
    })

    await check('quit exits 0 with no stray stdout', async () => {
      assert.equal(await client.call('quit'), null)
      assert.equal(await client.exit, 0)
      assert.deepEqual(client.lines, [], 'unsolicited stdout lines')
    })

    process.stdout.write(`selfcheck: ${passed} passed, 0 failed\n`)
  } catch (error) {
    process.stderr.write(`\nselfcheck FAILED: ${error.stack}\n\n--- client.js stderr ---\n${client.stderr.join('')}\n`)
    process.stdout.write(`selfcheck: ${passed} passed, 1 failed\n`)
    client.proc.kill()
    process.exitCode = 1
  } finally {
    await fake.close()
  }
}

main()
