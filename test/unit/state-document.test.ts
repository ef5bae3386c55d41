import t from 'tap';
import { StateDocumentInspector } from '../../src/bodies/state-document.js';

/** Feeds the document in chunks of every size from 1 byte up, so no field straddling a chunk edge is missed. */
const inspect = (text: string, chunkSize = text.length || 1) => {
  const inspector = new StateDocumentInspector();
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += chunkSize) inspector.write(bytes.subarray(i, i + chunkSize));
  return inspector.finish();
};

const plain = JSON.stringify({ version: 4, terraform_version: '1.9.8', serial: 12, lineage: 'lin-1', resources: [] });

t.test('a plain state is summarised whatever the chunking', async (t) => {
  for (const size of [1, 2, 3, 7, 64, plain.length]) {
    t.same(inspect(`${plain}\n`, size), { serial: 12, lineage: 'lin-1', terraformVersion: '1.9.8', encrypted: false, resourceCount: 0, outputCount: 0 }, `chunks of ${size}`);
  }
});

t.test('an OpenTofu-encrypted state is recognised without parsing its payload', async (t) => {
  const doc = JSON.stringify({ serial: 2, lineage: 'l', meta: { k: 'v' }, encrypted_data: 'QUJD', encryption_version: 'v0' });
  t.same(inspect(doc, 5), { serial: 2, lineage: 'l', terraformVersion: null, encrypted: true, resourceCount: null, outputCount: null });
});

t.test('anything else is refused with a reason', async (t) => {
  const refused: Array<[string, RegExp]> = [
    ['[1,2]', /JSON object/],
    ['"state"', /JSON object/],
    ['{"version":4,"serial":1', /incomplete/],
    ['{"version":4,"serial":1,"lineage":"x"} {}', /not valid JSON/],
    ['{"version":4,"serial":1,"lineage":"x",}', /not valid JSON/],
    ['{"version":4,"serial":-1,"lineage":"x"}', /serial/],
    ['{"version":4,"serial":1.5,"lineage":"x"}', /serial/],
    ['{"version":4,"serial":1}', /lineage/],
    ['{"serial":1,"lineage":"x"}', /version/],
    ['{"serial":1,"lineage":"x","encryption_version":"v0"}', /encrypted_data/],
    ['{"hello":"world"}', /serial/],
  ];
  for (const [doc, reason] of refused) {
    const result = inspect(doc);
    t.type(result, 'string', doc);
    t.match(result, reason, doc);
  }
});
