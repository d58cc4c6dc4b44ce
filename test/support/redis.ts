/**
 * Test harness that runs real `redis-server` processes (standalone or cluster) for the test suites.
 *
 * - Every server listens on 127.0.0.1 on a free ephemeral port (never 6379), keeps no data on disk
 *   (`--save '' --appendonly no`) and works in its own fresh temporary directory.
 * - Every child process is SIGKILLed when the test process exits or is terminated by a signal, even if
 *   a suite forgot to call `stop()`.
 * - Requires redis-server >= 7.0 (`CLUSTER ADDSLOTSRANGE`, `--cluster-port`, `--shutdown-timeout`).
 *   Run `bash scripts/ensure-redis.sh` to install it on a fresh (Debian/Ubuntu) machine.
 *
 * @module
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/** Host every harness server binds to. */
const HOST = '127.0.0.1';
/** How long `startRedis()` / `restart()` wait for a server to answer PING. */
const START_TIMEOUT_MS = 10_000;
/** How long `startRedisCluster()` / `failover()` wait for the cluster to converge. */
const CLUSTER_TIMEOUT_MS = 20_000;
/** How long `stop()` waits after SIGTERM before it escalates to SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Number of hash slots in a Redis cluster. */
const SLOT_COUNT = 16_384;
/** Maximum number of bytes of server output kept for error messages. */
const MAX_LOG_CHARS = 16_000;

/** A running standalone redis-server started by {@link startRedis}. */
export interface RedisServer {
  /** TCP port the server listens on (stays the same across {@link RedisServer.restart}). */
  readonly port: number;
  /** Host the server listens on (always `127.0.0.1`). */
  readonly host: string;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Closes all tracked clients, terminates the server (SIGTERM, SIGKILL after 5 s) and waits for it to exit. */
  stop(): Promise<void>;
  /** SIGKILLs the server (simulates a crash) and waits for it to exit. Tracked clients are left open. */
  kill(): Promise<void>;
  /** Starts the server again on the SAME port with an empty dataset (terminates it first if it still runs). */
  restart(): Promise<void>;
  /** Creates a new ioredis client for this server; it is disconnected by {@link RedisServer.stop}. */
  client(opts?: RedisOptions): Redis;
}

/** Options for {@link startRedis}. */
export interface StartRedisOptions {
  /** Fixed port to use; by default a free ephemeral port is chosen. */
  port?: number;
}

/** One node of a cluster started by {@link startRedisCluster}. */
export interface RedisClusterNode {
  /** Client port of the node (its cluster bus listens on a separate free port). */
  readonly port: number;
  /** Current role; updated by {@link RedisClusterHandle.failover}. */
  role: 'master' | 'replica';
  /** Terminates the node and waits for it to exit. */
  stop(): Promise<void>;
  /** SIGKILLs the node and waits for it to exit. */
  kill(): Promise<void>;
}

/** Options for {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Number of masters; the 16384 slots are split evenly between them. Default 3. */
  masters?: number;
  /** Number of replicas per master. Default 0. */
  replicasPerMaster?: number;
}

/** A running Redis cluster started by {@link startRedisCluster}. */
export interface RedisClusterHandle {
  /** All nodes: masters first (in slot order), then replicas. */
  readonly nodes: RedisClusterNode[];
  /** `{ host, port }` of every node, suitable for `new Cluster(startupNodes)`. */
  readonly startupNodes: Array<{ host: string; port: number }>;
  /** Creates a new ioredis Cluster client; it is disconnected by {@link RedisClusterHandle.stop}. */
  client(opts?: ClusterOptions): Cluster;
  /**
   * Runs `CLUSTER FAILOVER` on a replica of the master listening on `masterPort` and waits until that
   * replica is a master and the whole cluster agrees on the new slot map.
   */
  failover(masterPort: number): Promise<void>;
  /** Disconnects all tracked clients and stops every node. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Process bookkeeping: make sure no redis-server outlives the test process.
// ---------------------------------------------------------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let cleanupInstalled = false;

function killAllChildrenSync(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  liveChildren.clear();
  for (const dir of liveDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // best effort
    }
  }
  liveDirs.clear();
}

function installCleanupHandlers(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  process.on('exit', killAllChildrenSync);
  // A signal without listeners terminates node WITHOUT running 'exit' handlers (vitest stops its fork
  // workers with SIGTERM), so kill the children here too and then re-raise the signal if nobody else
  // handles it, to keep the default behaviour (terminate).
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllChildrenSync();
      process.off(signal, onSignal);
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function isExecutable(file: string): boolean {
  try {
    accessSync(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns the path of the `redis-server` binary: the first one found on `PATH`, then in `/usr/bin`,
 * `/usr/sbin` and `/usr/local/bin`.
 *
 * @throws Error telling to run `bash scripts/ensure-redis.sh` when no binary is found.
 */
export function findRedisServer(): string {
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of [...pathDirs, '/usr/bin', '/usr/sbin', '/usr/local/bin']) {
    const candidate = path.join(dir, 'redis-server');
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(
    'redis-server was not found (looked on PATH, /usr/bin, /usr/sbin, /usr/local/bin). ' +
      'The Redis test harness needs a local redis-server >= 7.0: run `bash scripts/ensure-redis.sh` to install it.',
  );
}

/** Asks the OS for a currently free TCP port on 127.0.0.1 (listen on port 0, read it, close). */
function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** Sends a raw `PING` and resolves `true` iff the server answered `+PONG` within `timeoutMs`. */
function pingOnce(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let buffer = '';
    let settled = false;
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      if (buffer.includes('\r\n')) done(buffer.startsWith('+PONG'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/** Thrown internally when the server could not bind its port(s); the caller retries. */
class AddressInUseError extends Error {}

interface InstanceOptions {
  /** Extra redis-server arguments (e.g. cluster mode). */
  extraArgs: string[];
  /** Whether the node also needs a cluster bus port. */
  cluster: boolean;
}

/** One redis-server process (possibly restarted several times on the same port). */
class RedisInstance {
  port = 0;
  busPort = 0;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private dir: string | undefined;
  private log = '';

  constructor(
    private readonly binary: string,
    private readonly options: InstanceOptions,
  ) {}

  /** Whether the process is currently running. */
  get running(): boolean {
    return this.child !== undefined;
  }

  /**
   * Starts the server. When `fixedPort` is given it is reused (retrying while it is still in use),
   * otherwise free ports are picked until one binds.
   */
  async start(fixedPort?: number): Promise<void> {
    const deadline = Date.now() + START_TIMEOUT_MS;
    let lastError: unknown;
    for (let attempt = 1; Date.now() < deadline; attempt++) {
      const port = fixedPort ?? (await getFreePort());
      const busPort = this.options.cluster ? await getFreePort() : 0;
      if (this.options.cluster && busPort === port) continue;
      try {
        await this.spawnAndWait(port, busPort, deadline);
        return;
      } catch (err) {
        lastError = err;
        if (!(err instanceof AddressInUseError)) throw err;
        await sleep(Math.min(50 * attempt, 500));
      }
    }
    throw new Error(
      `redis-server could not bind a port within ${START_TIMEOUT_MS} ms` +
        (fixedPort ? ` (port ${fixedPort})` : '') +
        `: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
    );
  }

  private async spawnAndWait(port: number, busPort: number, deadline: number): Promise<void> {
    installCleanupHandlers();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sms-otp-redis-'));
    liveDirs.add(dir);
    const args = [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--protected-mode',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--dir',
      dir,
      '--logfile',
      '',
      '--shutdown-timeout',
      '0',
      ...(this.options.cluster ? ['--cluster-port', String(busPort)] : []),
      ...this.options.extraArgs,
    ];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.log = '';
    const append = (chunk: string): void => {
      this.log = (this.log + chunk).slice(-MAX_LOG_CHARS);
    };
    child.stdout?.setEncoding('utf8').on('data', append);
    child.stderr?.setEncoding('utf8').on('data', append);
    let hasExited = false;
    let exitInfo = '';
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        hasExited = true;
        exitInfo = signal ? `signal ${signal}` : `code ${code}`;
        liveChildren.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
    });
    liveChildren.add(child);
    // Do not keep the test process alive because of the server; the 'exit' handler kills it.
    child.unref();
    for (const stream of [child.stdout, child.stderr]) (stream as unknown as net.Socket | null)?.unref?.();
    this.child = child;
    this.dir = dir;
    this.port = port;
    this.busPort = busPort;

    while (Date.now() < deadline) {
      if (spawnError) {
        await this.cleanupDir();
        throw new Error(`failed to spawn ${this.binary}: ${spawnError.message}`);
      }
      if (hasExited) {
        await this.cleanupDir();
        const message = `redis-server on port ${port} exited during startup (${exitInfo}). Output:\n${this.log}`;
        if (/address already in use/i.test(this.log)) throw new AddressInUseError(message);
        throw new Error(message);
      }
      if (await pingOnce(port, 500)) return;
      await sleep(25);
    }
    const output = this.log;
    await this.terminate('SIGKILL');
    throw new Error(
      `redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms. Output:\n${output}`,
    );
  }

  /** Sends `signal` (escalating to SIGKILL after a grace period) and waits until the process exited. */
  async terminate(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    const child = this.child;
    if (child) {
      child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      if (signal !== 'SIGKILL') {
        timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      }
      await this.exited;
      clearTimeout(timer);
    }
    await this.cleanupDir();
  }

  private async cleanupDir(): Promise<void> {
    const dir = this.dir;
    this.dir = undefined;
    if (!dir) return;
    liveDirs.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  }

  /** Last output of the server (for diagnostics). */
  get output(): string {
    return this.log;
  }
}

/** Disconnects ioredis clients without waiting for the (maybe dead) server. */
function disconnectAll(clients: Set<Redis | Cluster>): void {
  for (const c of clients) c.disconnect();
  clients.clear();
}

// ---------------------------------------------------------------------------------------------------------
// Standalone
// ---------------------------------------------------------------------------------------------------------

/**
 * Starts a standalone `redis-server` on 127.0.0.1 (a free port unless `opts.port` is given) without
 * persistence, in a fresh temporary directory, and waits until it answers PING (at most 10 s).
 *
 * @example
 * const redis = await startRedis();
 * const client = redis.client();
 * await client.set('k', 'v');
 * await redis.stop();
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const instance = new RedisInstance(findRedisServer(), { extraArgs: [], cluster: false });
  await instance.start(opts.port);
  const port = instance.port;
  const clients = new Set<Redis | Cluster>();
  return {
    port,
    host: HOST,
    url: `redis://${HOST}:${port}`,
    async stop() {
      disconnectAll(clients);
      await instance.terminate('SIGTERM');
    },
    async kill() {
      await instance.terminate('SIGKILL');
    },
    async restart() {
      await instance.terminate('SIGTERM');
      await instance.start(port);
    },
    client(clientOpts?: RedisOptions) {
      const client = new Redis({ host: HOST, port, ...clientOpts });
      clients.add(client);
      return client;
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------------------------

/** Short-lived admin connection to one node; fails fast instead of queueing. */
function adminClient(port: number): Redis {
  return new Redis({
    host: HOST,
    port,
    maxRetriesPerRequest: 1,
    retryStrategy: () => 100,
    connectTimeout: 2_000,
  });
}

async function withAdmin<T>(port: number, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = adminClient(port);
  try {
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

/** Parsed line of `CLUSTER NODES`. */
interface ClusterNodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string | undefined;
}

function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const [id = '', addr = '', flags = '', master = '-'] = line.split(' ');
      const portText = addr.split('@')[0]?.split(':').pop() ?? '0';
      return {
        id,
        port: Number(portText),
        flags: flags.split(','),
        masterId: master === '-' ? undefined : master,
      };
    });
}

type ClusterSlotsReply = Array<[number, number, ...Array<[string, number, ...unknown[]]>]>;

/** Normalised slot map of one node: "start-end@master[replicas]" sorted by start slot. */
function slotMapSignature(reply: ClusterSlotsReply): {
  signature: string;
  covered: number;
  replicas: number[];
} {
  const ranges = [...reply].sort((a, b) => a[0] - b[0]);
  let covered = 0;
  const replicas: number[] = [];
  const parts = ranges.map(([start, end, master, ...slaves]) => {
    covered += end - start + 1;
    replicas.push(slaves.length);
    const replicaPorts = slaves.map((s) => s[1]).sort((a, b) => a - b);
    return `${start}-${end}@${master?.[1]}[${replicaPorts.join(',')}]`;
  });
  return { signature: parts.join(' '), covered, replicas };
}

interface NodeState {
  port: number;
  info: string;
  signature: string;
  problem: string | undefined;
}

/**
 * Checks one node: cluster_state ok, knows all nodes, full slot coverage with the expected replica count,
 * and (for replicas) an established replication link.
 */
async function inspectNode(
  port: number,
  expectedNodes: number,
  replicasPerMaster: number,
): Promise<NodeState> {
  return withAdmin(port, async (client) => {
    const info = String(await client.call('CLUSTER', 'INFO'));
    const slots = (await client.call('CLUSTER', 'SLOTS')) as ClusterSlotsReply;
    const { signature, covered, replicas } = slotMapSignature(slots);
    const role = (await client.call('ROLE')) as [string, ...unknown[]];
    let problem: string | undefined;
    if (!/cluster_state:ok/.test(info)) problem = 'cluster_state is not ok';
    else if (!new RegExp(`cluster_known_nodes:${expectedNodes}\\b`).test(info))
      problem = 'not all nodes known';
    else if (covered !== SLOT_COUNT) problem = `only ${covered} slots covered`;
    else if (replicas.some((n) => n !== replicasPerMaster))
      problem = 'replicas not (yet) attached to every master';
    else if (role[0] === 'slave' && role[3] !== 'connected')
      problem = `replication link is ${String(role[3])}`;
    return { port, info, signature, problem };
  });
}

/** Waits until every node is healthy and all nodes report the same slot map. */
async function waitForConvergence(
  ports: number[],
  replicasPerMaster: number,
  deadline: number,
  what: string,
): Promise<void> {
  let lastProblem = 'no check ran';
  while (Date.now() < deadline) {
    try {
      const states = await Promise.all(ports.map((p) => inspectNode(p, ports.length, replicasPerMaster)));
      const unhealthy = states.find((s) => s.problem);
      const signatures = new Set(states.map((s) => s.signature));
      if (!unhealthy && signatures.size === 1) return;
      lastProblem = unhealthy
        ? `node ${unhealthy.port}: ${unhealthy.problem}\n${unhealthy.info}`
        : `nodes disagree on the slot map:\n${states.map((s) => `${s.port}: ${s.signature}`).join('\n')}`;
    } catch (err) {
      lastProblem = err instanceof Error ? err.message : String(err);
    }
    await sleep(100);
  }
  throw new Error(`${what}: cluster did not converge within the time limit. Last problem: ${lastProblem}`);
}

/**
 * Starts a Redis cluster of `masters` masters (default 3) with `replicasPerMaster` replicas each
 * (default 0). Nodes are joined with ioredis (`CLUSTER MEET`, `CLUSTER ADDSLOTSRANGE`,
 * `CLUSTER REPLICATE`; no redis-cli needed) and the promise resolves once every node reports
 * `cluster_state:ok` and all nodes agree on the slot map (at most 20 s).
 *
 * @example
 * const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
 * const client = cluster.client();
 * await client.set('{user:1}:otp', '123456');
 * await cluster.stop();
 */
export async function startRedisCluster(opts: StartRedisClusterOptions = {}): Promise<RedisClusterHandle> {
  const masters = opts.masters ?? 3;
  const replicasPerMaster = opts.replicasPerMaster ?? 0;
  if (!Number.isInteger(masters) || masters < 1) throw new Error(`masters must be a positive integer`);
  if (!Number.isInteger(replicasPerMaster) || replicasPerMaster < 0) {
    throw new Error(`replicasPerMaster must be a non-negative integer`);
  }
  const binary = findRedisServer();
  const total = masters * (1 + replicasPerMaster);
  const clusterArgs = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '2000',
    // Redis 7 defaults to diskless full sync with a 5 s delay; replicas should attach immediately.
    '--repl-diskless-sync-delay',
    '0',
    // CLUSTER SLOTS hides replicas whose replication offset is still 0, and an idle master only advances
    // it with its periodic PING to replicas (default every 10 s).
    '--repl-ping-replica-period',
    '1',
  ];
  const instances = Array.from(
    { length: total },
    () => new RedisInstance(binary, { extraArgs: clusterArgs, cluster: true }),
  );
  const clients = new Set<Redis | Cluster>();
  const stopAll = async (): Promise<void> => {
    disconnectAll(clients);
    await Promise.all(instances.map((i) => i.terminate('SIGTERM')));
  };

  try {
    await Promise.all(instances.map((i) => i.start()));
    const deadline = Date.now() + CLUSTER_TIMEOUT_MS;
    const masterInstances = instances.slice(0, masters);
    const replicaInstances = instances.slice(masters);

    // 1. Distinct config epochs (avoids epoch-collision resolution) and slot assignment, before meeting.
    const ids = await Promise.all(
      instances.map((inst, index) =>
        withAdmin(inst.port, async (c) => {
          await c.call('CLUSTER', 'SET-CONFIG-EPOCH', String(index + 1));
          if (index < masters) {
            const start = Math.floor((index * SLOT_COUNT) / masters);
            const end = Math.floor(((index + 1) * SLOT_COUNT) / masters) - 1;
            await c.call('CLUSTER', 'ADDSLOTSRANGE', String(start), String(end));
          }
          return String(await c.call('CLUSTER', 'MYID'));
        }),
      ),
    );

    // 2. Introduce every node to the first one; gossip does the rest.
    const first = instances[0]!;
    await withAdmin(first.port, async (c) => {
      for (const inst of instances.slice(1)) {
        await c.call('CLUSTER', 'MEET', HOST, String(inst.port), String(inst.busPort));
      }
    });

    // 3. Replicas: CLUSTER REPLICATE once the replica knows its master.
    await Promise.all(
      replicaInstances.map((inst, r) => {
        const masterId = ids[r % masters]!;
        return withAdmin(inst.port, async (c) => {
          let lastError: unknown;
          while (Date.now() < deadline) {
            const known = parseClusterNodes(String(await c.call('CLUSTER', 'NODES')));
            if (known.some((n) => n.id === masterId && !n.flags.includes('handshake'))) {
              try {
                await c.call('CLUSTER', 'REPLICATE', masterId);
                return;
              } catch (err) {
                lastError = err;
              }
            }
            await sleep(50);
          }
          throw new Error(
            `replica on port ${inst.port} could not replicate ${masterId}: ${String(lastError ?? 'master unknown')}`,
          );
        });
      }),
    );

    // 4. Wait for a healthy, agreeing cluster.
    await waitForConvergence(
      instances.map((i) => i.port),
      replicasPerMaster,
      deadline,
      'startRedisCluster',
    );

    const nodes: RedisClusterNode[] = instances.map((inst, index) => ({
      port: inst.port,
      role: index < masterInstances.length ? 'master' : 'replica',
      stop: () => inst.terminate('SIGTERM'),
      kill: () => inst.terminate('SIGKILL'),
    }));
    const startupNodes = instances.map((i) => ({ host: HOST, port: i.port }));

    return {
      nodes,
      startupNodes,
      client(clientOpts?: ClusterOptions) {
        const client = new Cluster(startupNodes, clientOpts);
        clients.add(client);
        return client;
      },
      async failover(masterPort: number) {
        const failoverDeadline = Date.now() + CLUSTER_TIMEOUT_MS;
        const replicaPort = await withAdmin(masterPort, async (c) => {
          const role = (await c.call('ROLE')) as [string, ...unknown[]];
          if (role[0] !== 'master') throw new Error(`failover: node ${masterPort} is not a master`);
          const known = parseClusterNodes(String(await c.call('CLUSTER', 'NODES')));
          const me = known.find((n) => n.flags.includes('myself'));
          const replica = known.find(
            (n) =>
              n.masterId === me?.id &&
              n.flags.includes('slave') &&
              !n.flags.some((f) => f === 'fail' || f === 'fail?'),
          );
          if (!replica) throw new Error(`failover: master ${masterPort} has no healthy replica`);
          return replica.port;
        });
        let lastError: unknown;
        let attempts = 0;
        let promoted = false;
        while (!promoted && Date.now() < failoverDeadline) {
          const role = await withAdmin(replicaPort, async (c) => {
            const current = (await c.call('ROLE')) as [string, ...unknown[]];
            // (Re)issue the manual failover every ~6 s: a manual failover times out after 5 s.
            if (current[0] === 'slave' && attempts % 60 === 0) {
              try {
                await c.call('CLUSTER', 'FAILOVER');
              } catch (err) {
                lastError = err;
              }
            }
            return current[0];
          });
          attempts++;
          promoted = role === 'master';
          if (!promoted) await sleep(100);
        }
        if (!promoted) {
          throw new Error(
            `failover: replica ${replicaPort} of ${masterPort} did not become master` +
              (lastError ? ` (${String(lastError)})` : ''),
          );
        }
        await waitForConvergence(
          instances.filter((i) => i.running).map((i) => i.port),
          replicasPerMaster,
          failoverDeadline,
          'failover',
        );
        for (const node of nodes) {
          if (node.port === replicaPort) node.role = 'master';
          if (node.port === masterPort) node.role = 'replica';
        }
      },
      stop: stopAll,
    };
  } catch (err) {
    const output = instances
      .filter((i) => i.output)
      .map((i) => `--- node ${i.port} ---\n${i.output.slice(-2_000)}`)
      .join('\n');
    await stopAll();
    if (err instanceof Error && output) err.message += `\nServer output:\n${output}`;
    throw err;
  }
}
