// bench/dns: before any load, ask every server the same questions, one at a time, from the
// client container's namespace, and print what each answered (JSON on stdout):
//   node dist/bench/dns/check.js QUESTIONS_FILE IP:PORT [IP:PORT...]
// QUESTIONS_FILE holds dnsperf's input ("name TYPE" per line). Output: {"IP:PORT": {"name TYPE":
// {"rcode": "NOERROR", "answers": ["10.0.0.2", ...] (sorted)} or {"error": "timeout"}}}.
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { decode, encode, RECURSION_DESIRED, type RecordType } from 'dns-packet';

const [file, ...servers] = process.argv.slice(2);
if (!file || servers.length === 0) {
  process.stderr.write('usage: check.js QUESTIONS_FILE IP:PORT...\n');
  process.exit(2);
}
const questions = readFileSync(file, 'utf8')
  .split('\n')
  .map((l) => l.trim().split(/\s+/))
  .filter((p): p is [string, string] => p.length === 2 && p[0] !== '');

type Result = { rcode: string; answers: string[] } | { error: string };

function ask(server: string, name: string, type: string, id: number): Promise<Result> {
  const i = server.lastIndexOf(':');
  const host = server.slice(0, i);
  const port = Number(server.slice(i + 1));
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const done = (r: Result) => {
      clearTimeout(timer);
      s.close();
      resolve(r);
    };
    const timer = setTimeout(() => done({ error: 'timeout' }), 2000);
    s.on('error', (e) => done({ error: e.message }));
    s.on('message', (m) => {
      try {
        const d = decode(m);
        if (d.id !== id) return;
        const answers = (d.answers ?? []).map((a) => String((a as { data?: unknown }).data)).sort();
        // dns-packet sets rcode (its name) on decoded packets; its types do not say so
        done({ rcode: (d as { rcode?: string }).rcode ?? String((d.flags ?? 0) & 15), answers });
      } catch (e) {
        done({ error: `undecodable answer: ${(e as Error).message}` });
      }
    });
    s.send(encode({ type: 'query', id, flags: RECURSION_DESIRED, questions: [{ type: type as RecordType, name, class: 'IN' }] }), port, host);
  });
}

const out: Record<string, Record<string, Result>> = {};
let id = 1;
for (const server of servers) {
  out[server] = {};
  for (const [name, type] of questions) out[server][`${name} ${type}`] = await ask(server, name, type, id++ & 0xffff);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
