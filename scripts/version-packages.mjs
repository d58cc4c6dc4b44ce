#!/usr/bin/env node
/**
 * `changeset version` for the fixed group: bumps the four packages together, writes their CHANGELOGs.
 *
 * The framework packages' peer dependency on core is `workspace:^` (pnpm writes `^<the release's version>`
 * into the published manifest). Changesets would turn any minor release of core into a major of every peer
 * dependent (0.1.0 → 1.0.0: its rule for a peer range that the new version leaves); the fixed group already
 * releases them together, so that rule is set aside here by hiding the peer entry while changesets runs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

const manifests = ['express', 'koa', 'fastify'].map((name) => `packages/${name}/package.json`);
const hidden = new Map();
for (const file of manifests) {
  const text = readFileSync(file, 'utf8');
  const manifest = JSON.parse(text);
  if (manifest.peerDependencies?.['@sms-otp/core'] !== 'workspace:^') {
    throw new Error(`${file}: expected the peer dependency "@sms-otp/core": "workspace:^"`);
  }
  hidden.set(file, manifest.peerDependencies['@sms-otp/core']);
  delete manifest.peerDependencies['@sms-otp/core'];
  writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
}
try {
  execFileSync('changeset', ['version'], { stdio: 'inherit' });
} finally {
  for (const [file, range] of hidden) {
    const manifest = JSON.parse(readFileSync(file, 'utf8'));
    manifest.peerDependencies = { '@sms-otp/core': range, ...manifest.peerDependencies };
    writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
  }
}
