/**
 * docker-compose.yml, compose/ and the Dockerfile, checked without a Docker engine (none runs
 * here): Debian's docker-compose validates and resolves the file, and the tests check the
 * resolved stack against the contract it must meet: every role and its environment accepted by
 * the real config parser, the rollup replicas identical and sharing the partitions through leases, one InfluxDB org/bucket/token
 * everywhere, Grafana's mounts where its provisioning points, Prometheus scraping every role
 * (its config checked by promtool) and sending alerts to Alertmanager (checked by amtool),
 * healthchecks and restart policies. A missing docker-compose
 * fails the test with the Debian package to install, never a skip.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../runtime/config.js';
import { GRAFANA_DIR, loadYaml, PROVISIONING_DIR, provisionedDataSources } from './dashboard-model.js';

const ROOT = path.resolve(GRAFANA_DIR, '..');
const COMPOSE_FILE = path.join(ROOT, 'docker-compose.yml');
const ROLES = ['gateway-1', 'gateway-2', 'rollup', 'query'];
const PARTITIONS = 8;

function run(command: string, args: readonly string[], debianPackage: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(command, args, { cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH } });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new Error(`${command} is not installed: apt-get install ${debianPackage} (npm test installs it when run as root and it is in scripts/ensure-ready.mjs TEST_PACKAGES)`);
  }
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface ComposeService {
  image?: string;
  build?: { context: string };
  command?: string[];
  entrypoint?: string[];
  environment?: Record<string, string>;
  ports?: { published: number; target: number; protocol?: string }[];
  volumes?: string[];
  restart?: string;
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  container_name?: string;
}

/** The stack as docker-compose resolves it (anchors merged, defaults substituted), as JSON. */
function resolvedStack(): { services: Record<string, ComposeService>; volumes: Record<string, unknown> } {
  const config = run('docker-compose', ['-f', COMPOSE_FILE, 'config'], 'docker-compose');
  if (config.status !== 0) throw new Error(`docker-compose config failed:\n${config.stderr}`);
  const json = spawnSync('python3', ['-c', 'import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))'], { input: config.stdout, encoding: 'utf8' });
  if (json.status !== 0) throw new Error(`python3 with PyYAML is needed to read docker-compose's output: apt-get install python3-yaml (docker-compose depends on it)\n${json.stderr}`);
  return JSON.parse(json.stdout) as ReturnType<typeof resolvedStack>;
}

/** The final stage's ENV of the Dockerfile: what a role's container has before compose adds to it. */
function imageEnv(): Record<string, string> {
  const text = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const finalStage = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const line of finalStage.split('\n').filter((l) => l.startsWith('ENV '))) {
    for (const m of line.slice(4).matchAll(/(\w+)=(\S+)/g)) env[m[1]] = m[2];
  }
  return env;
}

/** The environment a role's process sees: the image's ENV, then the service's environment. */
const roleEnv = (s: ComposeService): Record<string, string> => ({ ...imageEnv(), ...(s.environment ?? {}) });

/** `host:container[:mode]` volume strings of a service, by container path. */
function mounts(s: ComposeService): Map<string, string> {
  return new Map((s.volumes ?? []).map((v) => {
    const [source, target] = v.split(':');
    return [target, source];
  }));
}

describe('docker-compose.yml', () => {
  it('docker-compose config -q accepts it', () => {
    const r = run('docker-compose', ['-f', COMPOSE_FILE, 'config', '-q'], 'docker-compose');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  // docker-compose and python3 take about a second together (much more on loaded CI): resolve once
  let resolved: ReturnType<typeof resolvedStack> | undefined;
  const stack = () => (resolved ??= resolvedStack());

  it('has every service, each with a restart policy and a healthcheck (loadgen: none to check)', () => {
    const { services, volumes } = stack();
    expect(Object.keys(services).sort()).toEqual(['alertmanager', 'gateway-1', 'gateway-2', 'grafana', 'influxdb', 'loadgen', 'nats', 'prometheus', 'query', 'rollup']);
    for (const [name, s] of Object.entries(services)) {
      expect(s.restart, name).toBe('unless-stopped');
      if (name === 'loadgen') expect(s.healthcheck?.test).toEqual(['NONE']); // `disable: true`
      else expect(s.healthcheck?.test?.length, `${name} healthcheck`).toBeGreaterThan(1);
    }
    // state that must survive `docker compose down`: named volumes
    for (const v of ['nats-data', 'influxdb-data', 'prometheus-data', 'alertmanager-data', 'grafana-data', 'gateway-1-data', 'gateway-2-data']) expect(Object.keys(volumes)).toContain(v);
    expect(mounts(services.nats).get('/data')).toBe('nats-data');
    expect(services.nats.command).toEqual(expect.arrayContaining(['--jetstream', '--store_dir=/data']));
  });

  it('every role is built from the Dockerfile, and its environment passes the real config parser', () => {
    const { services } = stack();
    for (const name of ROLES) {
      const s = services[name];
      expect(s.build?.context, name).toBe(ROOT);
      expect(s.image, name).toBe('hourglass:local');
      const role = (s.command ?? [])[0];
      expect(name.startsWith(role), `${name} runs ${role}`).toBe(true);
      // throws ConfigError naming every bad variable, as the process would at start
      const config = parseConfig(role, roleEnv(s));
      expect(config.httpAddress.port, `${name} serves HTTP on 8080 (Prometheus scrapes it there)`).toBe(8080);
      // depends on what it connects to, healthy
      if (config.nats !== undefined) expect(s.depends_on?.nats?.condition, name).toBe('service_healthy');
      if (config.influx !== undefined) expect(s.depends_on?.influxdb?.condition, name).toBe('service_healthy');
    }
    for (const name of ['gateway-1', 'gateway-2', 'rollup']) expect(parseConfig(name.split('-')[0], roleEnv(services[name])).nats?.url).toBe('nats://nats:4222');
  });

  it('two gateways on host ports 8125 and 8126 (UDP and TCP), with their own ids and spools', () => {
    const { services } = stack();
    const ids = new Set<string>();
    for (const [name, hostPort] of [['gateway-1', 8125], ['gateway-2', 8126]] as const) {
      const s = services[name];
      const published = (s.ports ?? []).map((p) => `${p.published}->${p.target}/${p.protocol ?? 'tcp'}`).sort();
      expect(published, name).toEqual([`${hostPort}->8125/tcp`, `${hostPort}->8125/udp`]);
      const config = parseConfig('gateway', roleEnv(s));
      ids.add(config.gatewayId);
      expect(config.statsdAddress.port).toBe(8125);
      expect(mounts(s).get(config.dataDir), `${name} keeps its spool (${config.dataDir}) in a named volume`).toBe(`${name}-data`);
    }
    expect(ids.size).toBe(2);
  });

  it('the rollup service runs identical replicas that share the 8 partitions through leases', () => {
    const { services } = stack();
    const rollup = services.rollup;
    expect(rollup.deploy?.replicas, 'more than one worker').toBeGreaterThanOrEqual(2);
    const config = parseConfig('rollup', roleEnv(rollup));
    expect(config.nats?.partitions).toBe(PARTITIONS);
    // no fixed list: every replica would own the same partitions and lose data (issue 10)
    expect(config.rollupPartitions, 'ROLLUP_PARTITIONS must stay unset').toBeUndefined();
    // the takeover promise of SPEC §5 (15 s) holds with this TTL
    expect(config.leaseTtlMs).toBeLessThanOrEqual(12_000);
    // nothing that two replicas cannot share
    expect(rollup.container_name).toBeUndefined();
    expect(rollup.ports ?? []).toEqual([]);
  });

  it('InfluxDB 2 is set up with the org, bucket and token the roles and Grafana use, and a DBRP mapping for InfluxQL', () => {
    const { services } = stack();
    const init = services.influxdb.environment ?? {};
    expect(services.influxdb.image).toMatch(/^influxdb:2\./);
    expect(init.DOCKER_INFLUXDB_INIT_MODE).toBe('setup');
    expect((init.DOCKER_INFLUXDB_INIT_PASSWORD ?? '').length, 'influx setup wants 8 characters or more').toBeGreaterThanOrEqual(8);
    for (const name of ['rollup', 'query']) {
      const influx = parseConfig(name, roleEnv(services[name])).influx;
      expect(influx, name).toMatchObject({ url: 'http://influxdb:8086', api: 'v2', org: init.DOCKER_INFLUXDB_INIT_ORG, bucket: init.DOCKER_INFLUXDB_INIT_BUCKET, token: init.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN });
    }
    expect(services.grafana.environment?.INFLUX_TOKEN).toBe(init.DOCKER_INFLUXDB_INIT_ADMIN_TOKEN);
    // the init script: mounted where the image runs it, executable (run-parts skips it otherwise),
    // valid bash, mapping the database Grafana's InfluxQL data source reads
    const initDir = mounts(services.influxdb).get('/docker-entrypoint-initdb.d') as string;
    expect(initDir).toBe(path.join(ROOT, 'compose', 'influxdb-init'));
    const scripts = fs.readdirSync(initDir).filter((f) => f.endsWith('.sh'));
    expect(scripts).toEqual(['create-dbrp.sh']);
    const script = path.join(initDir, scripts[0]);
    expect(fs.statSync(script).mode & 0o111, `${script} must be executable`).not.toBe(0);
    expect(run('bash', ['-n', script], 'bash').status).toBe(0);
    const text = fs.readFileSync(script, 'utf8');
    const dbName = provisionedDataSources().find((d) => d.type === 'influxdb')?.jsonData?.dbName;
    expect(text).toMatch(/influx v1 dbrp create/);
    expect(text).toContain(`--db ${dbName}`);
    expect(text).toContain('--bucket-id "${DOCKER_INFLUXDB_INIT_BUCKET_ID}"');
  });

  it('Grafana mounts the provisioning and the dashboards where the provider looks, and its data sources name the compose services', () => {
    const { services } = stack();
    const m = mounts(services.grafana);
    expect(m.get('/etc/grafana/provisioning/datasources')).toBe(path.join(PROVISIONING_DIR, 'datasources'));
    expect(m.get('/etc/grafana/provisioning/dashboards')).toBe(path.join(PROVISIONING_DIR, 'dashboards'));
    const provider = (loadYaml(path.join(PROVISIONING_DIR, 'dashboards', 'hourglass.yaml')) as { providers: { options: { path: string } }[] }).providers[0];
    expect(m.get(provider.options.path)).toBe(path.join(GRAFANA_DIR, 'dashboards'));
    const home = services.grafana.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    expect(home.startsWith(`${provider.options.path}/`)).toBe(true);
    expect(fs.existsSync(path.join(GRAFANA_DIR, 'dashboards', path.basename(home)))).toBe(true);
    for (const ds of provisionedDataSources()) {
      const host = new URL(ds.url).hostname;
      expect(Object.keys(services), `${ds.name} points at ${host}`).toContain(host);
    }
  });

  it('Prometheus scrapes every role on its HTTP port, every 5 s as the Grafana data source says (promtool checks the file)', () => {
    const { services } = stack();
    const file = mounts(services.prometheus).get('/etc/prometheus/prometheus.yml') as string;
    expect(file).toBe(path.join(ROOT, 'compose', 'prometheus.yml'));
    const check = run('promtool', ['check', 'config', file], 'prometheus');
    expect(check.status, check.stdout + check.stderr).toBe(0);
    const prom = loadYaml(file) as {
      global: { scrape_interval: string };
      scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; dns_sd_configs?: { names: string[]; port: number }[] }[];
    };
    // the roles' own metrics: jobs hourglass-*, which the dashboards and HourglassRoleDown select
    // by up{job=~"hourglass.*"}; the ingested metrics (PROMETHEUS_ADDRESS, port 9102) apart, in
    // the one job the response-time rules read. Replicas are found by DNS (the service name
    // resolves to each of them), the others by name.
    const roleJobs = prom.scrape_configs.filter((j) => j.job_name.startsWith('hourglass'));
    const targets = roleJobs
      .flatMap((j) => [...(j.static_configs ?? []).flatMap((c) => c.targets), ...(j.dns_sd_configs ?? []).flatMap((c) => c.names.map((name) => `${name}:${c.port}`))])
      .sort();
    expect(targets).toEqual(ROLES.map((r) => `${r}:8080`).sort());
    const others = prom.scrape_configs.filter((j) => !roleJobs.includes(j));
    expect(others.map((j) => j.job_name)).toEqual(['ingested-metrics']);
    const gateways = ROLES.filter((r) => r.startsWith('gateway'));
    expect((others[0].static_configs ?? []).flatMap((c) => c.targets).sort()).toEqual(gateways.map((g) => `${g}:9102`).sort());
    for (const g of gateways) expect(parseConfig('gateway', roleEnv(stack().services[g])).prometheusAddress?.port, `${g} exposes on 9102`).toBe(9102);
    const prometheus = provisionedDataSources().find((d) => d.type === 'prometheus');
    expect(prometheus?.jsonData?.timeInterval).toBe(prom.global.scrape_interval);
  });

  it('Prometheus loads compose/rules/ and sends alerts to the Alertmanager service, which loads compose/alertmanager.yml (amtool checks it)', () => {
    const { services } = stack();
    const prom = mounts(services.prometheus);
    expect(prom.get('/etc/prometheus/rules')).toBe(path.join(ROOT, 'compose', 'rules'));
    // rule_files is relative to prometheus.yml: rules/*.yml lands in the mounted folder
    const promCommand = services.prometheus.command ?? [];
    expect(promCommand).toContain('--config.file=/etc/prometheus/prometheus.yml');
    const am = services.alertmanager;
    expect(am.image).toMatch(/^prom\/alertmanager:v0\.\d+\.\d+$/);
    const configFlag = (am.command ?? []).find((a) => a.startsWith('--config.file='));
    const configPath = configFlag?.slice('--config.file='.length) ?? '';
    const amFile = mounts(am).get(configPath) as string;
    expect(amFile).toBe(path.join(ROOT, 'compose', 'alertmanager.yml'));
    const check = run('amtool', ['check-config', amFile], 'prometheus-alertmanager');
    expect(check.status, check.stdout + check.stderr).toBe(0);
    expect(am.command).toContain('--storage.path=/alertmanager');
    expect(mounts(am).get('/alertmanager')).toBe('alertmanager-data');
    expect((am.ports ?? []).map((p) => `${p.published}->${p.target}`)).toEqual(['9093->9093']);
    // the example webhook's host resolves to the machine running compose
    expect((am as ComposeService & { extra_hosts?: string[] }).extra_hosts).toEqual(['host.docker.internal:host-gateway']);
    const alerting = (loadYaml(path.join(ROOT, 'compose', 'prometheus.yml')) as { alerting: { alertmanagers: { static_configs: { targets: string[] }[] }[] } }).alerting;
    const amTargets = alerting.alertmanagers.flatMap((a) => a.static_configs.flatMap((c) => c.targets));
    expect(amTargets).toEqual(['alertmanager:9093']);
  });

  it('loadgen runs compose/loadgen.mjs with the image node against both gateways', () => {
    const { services } = stack();
    const s = services.loadgen;
    expect(s.image).toBe('hourglass:local');
    expect(s.entrypoint).toEqual(['node', '/loadgen/loadgen.mjs']);
    expect(mounts(s).get('/loadgen/loadgen.mjs')).toBe(path.join(ROOT, 'compose', 'loadgen.mjs'));
    expect(s.environment?.STATSD_TARGETS?.split(',').sort()).toEqual(['gateway-1:8125', 'gateway-2:8125']);
    for (const g of ['gateway-1', 'gateway-2']) expect(s.depends_on?.[g]?.condition).toBe('service_healthy');
  });
});

describe('Dockerfile and .dockerignore', () => {
  const dockerfile = fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('builds on node:20-bookworm-slim in two stages, compiles with python3/make/g++, ships production dependencies only', () => {
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms).toEqual(['FROM node:20-bookworm-slim AS build', 'FROM node:20-bookworm-slim']);
    const runs = instructions.filter((l) => l.startsWith('RUN ')).join('\n');
    expect(runs).toMatch(/apt-get install -y --no-install-recommends python3 make g\+\+/);
    expect(runs).toMatch(/npm ci\b/);
    expect(runs).toMatch(/npm run build && npm prune --omit=dev/);
    expect(instructions).toContain('ENTRYPOINT ["node", "bin/hourglass.js"]');
    expect(instructions.some((l) => l.startsWith('USER node'))).toBe(true);
    expect(instructions.some((l) => l.startsWith('HEALTHCHECK '))).toBe(true);
  });

  it('copies every source folder the build compiles, and .dockerignore keeps none of them out', () => {
    const tsconfig = JSON.parse(fs.readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
    const sourceDirs = [...new Set(tsconfig.include.map((glob) => glob.split('/')[0]))];
    const copied = instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from=')).flatMap((l) => l.split(/\s+/).slice(1, -1));
    for (const needed of [...sourceDirs, 'bin', 'package.json', 'package-lock.json', 'tsconfig.json']) expect(copied, `the Dockerfile copies ${needed}`).toContain(needed);
    const ignored = fs
      .readFileSync(path.join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    for (const c of copied) expect(ignored, `.dockerignore must not drop ${c}`).not.toContain(c);
    for (const heavy of ['node_modules', 'dist', 'data', '.git']) expect(ignored, `.dockerignore keeps ${heavy} out`).toContain(heavy);
  });
});
