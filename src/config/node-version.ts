/**
 * Refuses, in one line, a Node.js the service does not support. Imported first by every entry
 * point, so that it runs before anything that would fail on an old Node in a less clear way.
 */
const SUPPORTED_NODE = '20.19 or newer (24 or 26 LTS recommended: 20 reached its end of life in April 2026)';

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 19)) {
  process.stderr.write(`depositaja: Node.js ${process.versions.node} is not supported: use Node.js ${SUPPORTED_NODE}\n`);
  process.exit(1);
}
