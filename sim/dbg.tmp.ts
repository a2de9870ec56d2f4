import { SimApiServer } from './api-server.ts';
import { runScenario } from './scenario.ts';

let server: SimApiServer | undefined;
const origWatch = SimApiServer.prototype.watch;
SimApiServer.prototype.watch = function (k, p) {
  if (server !== this) {
    server = this;
    this.onWrite((w) => {
      if (w.kind === 'lease' && w.name.startsWith('baton-slot'))
        console.log(
          'WRITE',
          w.name,
          w.actor,
          JSON.stringify((w.after as any)?.metadata?.annotations ?? null),
          (w.after as any)?.spec?.holderIdentity,
        );
    });
  }
  return origWatch.call(this, k, p);
};
const s = JSON.parse(process.argv[2] ?? '{}');
const r = await runScenario(s.config, s.actions);
console.log(r.violation?.message);
for (const n of ['node-1'])
  console.log(
    JSON.stringify((server?.peek('node', n) as any)?.metadata?.annotations),
    JSON.stringify(
      (server?.peek('node', n) as any)?.status?.conditions?.map((c: any) => [c.type, c.status, c.reason]),
    ),
  );
for (const l of server?.all('lease') ?? [])
  console.log(
    JSON.stringify({
      name: l.metadata?.name,
      ann: l.metadata?.annotations,
      holder: (l as any).spec?.holderIdentity,
    }),
  );
console.log(
  r.trace
    .filter((l) => /controller-\d: (started|stopped|notify)/.test(l))
    .slice(-20)
    .join('\n'),
);
