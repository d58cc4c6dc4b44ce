/**
 * Child process of bench/overload.ts: floods `GET /sms/captcha` with autocannon (so that the flood's own CPU
 * does not stall the parent, which times the real user), then prints its result as one JSON line.
 *
 *   node --import tsx bench/overload-flood.ts <port> <connections> <seconds> [path]
 */
import autocannon from 'autocannon';

const [port, connections, seconds] = process.argv.slice(2, 5).map(Number);
const path = process.argv[5] ?? '/sms/captcha';
const result = await autocannon({
  url: `http://127.0.0.1:${port}${path}`,
  connections: connections!,
  duration: seconds!,
  timeout: 10,
});
console.log(
  JSON.stringify({
    made: result.statusCodeStats?.['200']?.count ?? 0,
    refused: result.statusCodeStats?.['429']?.count ?? 0,
    errors: result.errors,
    timeouts: result.timeouts,
  }),
);
