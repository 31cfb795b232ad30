// Runs the real hush binary as a dev server for the npm client suites (the counterpart of
// tests/python/conftest.py).

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export const HUSH_BIN = resolve(process.env.HUSH_BIN || join(repo, 'target', 'debug', 'hush'));
export const ROOT = 'root';

// node-vault falls back to VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE and VAULT_PREFIX, and axios
// to the proxy variables: a developer's shell must not point the clients elsewhere.
for (const name of Object.keys(process.env)) {
  if (name.startsWith('VAULT_')) delete process.env[name];
}
for (const name of ['no_proxy', 'NO_PROXY']) {
  process.env[name] = [process.env[name], '127.0.0.1', 'localhost'].filter(Boolean).join(',');
}

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function answers(url) {
  try {
    await fetch(`${url}/v1/sys/health`, { signal: AbortSignal.timeout(1000) });
    return true;
  } catch {
    return false;
  }
}

class HushServer {
  constructor(port, workdir) {
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.workdir = workdir;
    this.log = '';
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('VAULT_')),
    );
    this.proc = spawn(
      HUSH_BIN,
      ['server', '--dev', '--dev-root-token-id', ROOT, '--dev-listen-address', `127.0.0.1:${port}`],
      { cwd: workdir, env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.spawnError = null;
    // A binary that cannot be started reports 'error' and never 'exit'.
    this.exited = new Promise((ok) => {
      this.proc.once('exit', ok);
      this.proc.once('error', (err) => {
        this.spawnError = err;
        ok();
      });
    });
    const keep = (chunk) => { this.log += chunk; };
    this.proc.stdout.setEncoding('utf8').on('data', keep);
    this.proc.stderr.setEncoding('utf8').on('data', keep);
  }

  get running() {
    return this.proc.exitCode === null && this.proc.signalCode === null && !this.spawnError;
  }

  // The dev server prints its one unseal key, which the seal/unseal tests need.
  get unsealKey() {
    const m = /Unseal Key: (\S+)/.exec(this.log);
    return m && m[1];
  }

  async ready(timeoutMs) {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (!this.running) return false;
      // A server of a test file running alongside may answer on a port that this child failed
      // to bind; hush names its address as a URL only once its own listener is up.
      if (this.log.includes(this.url) && (await answers(this.url)) && this.running) {
        return true;
      }
      await sleep(50);
    }
    throw new Error(`hush did not answer on ${this.url} within ${timeoutMs} ms:\n${this.log}`);
  }

  async stop() {
    if (this.running) {
      this.proc.kill('SIGTERM');
      const killer = setTimeout(() => this.proc.kill('SIGKILL'), 15000);
      await this.exited;
      clearTimeout(killer);
    }
    rmSync(this.workdir, { recursive: true, force: true });
  }
}

// A test process that ends early, or is told to, takes its servers with it.
const started = new Set();
function killAll() {
  for (const server of started) {
    if (server.running) server.proc.kill('SIGKILL');
  }
}
process.once('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAll();
    process.exit(1);
  });
}

// Starts a dev server on a free port, with its own temp directory (also the place for audit
// files). The port is chosen before hush binds it, so a lost race is retried on another one.
export async function startHush({ timeoutMs = 20000 } = {}) {
  for (let attempt = 1; ; attempt++) {
    const workdir = mkdtempSync(join(tmpdir(), 'hush-js-'));
    const server = new HushServer(await freePort(), workdir);
    started.add(server);
    if (await server.ready(timeoutMs)) return server;
    await server.exited;
    started.delete(server);
    rmSync(workdir, { recursive: true, force: true });
    if (server.spawnError) {
      throw new Error(`cannot run ${HUSH_BIN} (build it with cargo build -p hush, or set `
        + `HUSH_BIN): ${server.spawnError.message}`);
    }
    if (attempt >= 5 || !/already in use/i.test(server.log)) {
      throw new Error(`hush exited before answering:\n${server.log}`);
    }
  }
}
