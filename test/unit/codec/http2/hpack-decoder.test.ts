import { describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../../../src/codec/http2/hpack-decoder.js';
import { HpackError } from '../../../../src/codec/http2/hpack-error.js';

type Field = [string, string];

function decode(decoder: HpackDecoder, hex: string, maxListSize = 65_536): Field[] {
  const out: string[] = [];
  const block = Buffer.from(hex, 'hex');
  decoder.decode(block, 0, block.length, out, maxListSize);
  const fields: Field[] = [];
  for (let i = 0; i < out.length; i += 2) fields.push([out[i]!, out[i + 1]!]);
  return fields;
}

/** One RFC 7541 Appendix C step: the block, the header list it decodes to, the dynamic table after it. */
interface Step {
  hex: string;
  fields: Field[];
  table: Field[];
  size: number;
}

const REQUESTS: Field[][] = [
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com']],
  [[':method', 'GET'], [':scheme', 'http'], [':path', '/'], [':authority', 'www.example.com'], ['cache-control', 'no-cache']],
  [[':method', 'GET'], [':scheme', 'https'], [':path', '/index.html'], [':authority', 'www.example.com'], ['custom-key', 'custom-value']],
];
const REQUEST_TABLES: Field[][] = [
  [[':authority', 'www.example.com']],
  [['cache-control', 'no-cache'], [':authority', 'www.example.com']],
  [['custom-key', 'custom-value'], ['cache-control', 'no-cache'], [':authority', 'www.example.com']],
];
const REQUEST_SIZES = [57, 110, 164];

const DATE1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const RESPONSES: Field[][] = [
  [[':status', '302'], ['cache-control', 'private'], ['date', DATE1], ['location', 'https://www.example.com']],
  [[':status', '307'], ['cache-control', 'private'], ['date', DATE1], ['location', 'https://www.example.com']],
  [[':status', '200'], ['cache-control', 'private'], ['date', DATE2], ['location', 'https://www.example.com'], ['content-encoding', 'gzip'], ['set-cookie', COOKIE]],
];
const RESPONSE_TABLES: Field[][] = [
  [['location', 'https://www.example.com'], ['date', DATE1], ['cache-control', 'private'], [':status', '302']],
  [[':status', '307'], ['location', 'https://www.example.com'], ['date', DATE1], ['cache-control', 'private']],
  [['set-cookie', COOKIE], ['content-encoding', 'gzip'], ['date', DATE2]],
];
const RESPONSE_SIZES = [222, 222, 215];

function steps(hexes: string[], fields: Field[][], tables: Field[][], sizes: number[]): Step[] {
  return hexes.map((hex, i) => ({ hex, fields: fields[i]!, table: tables[i]!, size: sizes[i]! }));
}

const APPENDIX_C: { name: string; tableSize: number; steps: Step[] }[] = [
  {
    name: 'C.3 requests without Huffman',
    tableSize: 4096,
    steps: steps(['828684410f7777772e6578616d706c652e636f6d', '828684be58086e6f2d6361636865', '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565'], REQUESTS, REQUEST_TABLES, REQUEST_SIZES),
  },
  {
    name: 'C.4 requests with Huffman',
    tableSize: 4096,
    steps: steps(['828684418cf1e3c2e5f23a6ba0ab90f4ff', '828684be5886a8eb10649cbf', '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf'], REQUESTS, REQUEST_TABLES, REQUEST_SIZES),
  },
  {
    name: 'C.5 responses without Huffman (256-byte table, eviction)',
    tableSize: 256,
    steps: steps(
      [
        '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
        '4803333037c1c0bf',
        '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
      ],
      RESPONSES,
      RESPONSE_TABLES,
      RESPONSE_SIZES,
    ),
  },
  {
    name: 'C.6 responses with Huffman (256-byte table, eviction)',
    tableSize: 256,
    steps: steps(
      [
        '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
        '4883640effc1c0bf',
        '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
      ],
      RESPONSES,
      RESPONSE_TABLES,
      RESPONSE_SIZES,
    ),
  },
];

describe('HpackDecoder (RFC 7541)', () => {
  for (const example of APPENDIX_C) {
    it(`decodes the Appendix ${example.name}, with the dynamic table after each block`, () => {
      const decoder = new HpackDecoder(example.tableSize);
      for (const step of example.steps) {
        expect(decode(decoder, step.hex)).toEqual(step.fields);
        expect(decoder.dynamicEntries).toEqual(step.table);
        expect(decoder.dynamicSize).toBe(step.size);
      }
    });
  }

  it('decodes the Appendix C.2 single fields (literal without indexing, never indexed)', () => {
    const decoder = new HpackDecoder();
    expect(decode(decoder, '040c2f73616d706c652f70617468')).toEqual([[':path', '/sample/path']]);
    expect(decode(decoder, '100870617373776f726406736563726574')).toEqual([['password', 'secret']]);
    expect(decoder.dynamicEntries).toEqual([]);
  });

  it('applies a dynamic table size update at the start of a block, and evicts to fit', () => {
    const decoder = new HpackDecoder();
    decode(decoder, '828684410f7777772e6578616d706c652e636f6d');
    expect(decoder.dynamicSize).toBe(57);
    // 0x20: size update to 0 empties the table; 0x3f 0xe1 0x1f: back to 4096.
    expect(decode(decoder, '203fe11f82')).toEqual([[':method', 'GET']]);
    expect(decoder.dynamicEntries).toEqual([]);
  });

  const BAD: [string, string, RegExp][] = [
    ['index 0', '80', /index 0/],
    ['an index beyond both tables', 'be', /index 62 is beyond/],
    ['a huge index', 'fffffffff07f', /longer than 4 continuation bytes/],
    ['a string running past the block', '400a6162', /runs past the end/],
    ['a block ending inside an integer', 'ff', /ends inside an integer/],
    ['a size update above our SETTINGS_HEADER_TABLE_SIZE', '3fe21f', /exceeds the 4096 bytes/],
    ['a size update after a field', '8220', /follows a header field/],
    ['Huffman padding that is not the EOS prefix', '4081008100', /padding/],
    ['Huffman padding longer than 7 bits', '4082ffff8100', /more than 7 bits/],
    ['the EOS symbol in a Huffman string', '4084ffffffff8100', /EOS/],
  ];
  for (const [what, hex, message] of BAD) {
    it(`refuses ${what} with a COMPRESSION_ERROR (HpackError)`, () => {
      const decoder = new HpackDecoder();
      expect(() => decode(decoder, hex)).toThrow(HpackError);
      expect(() => decode(new HpackDecoder(), hex)).toThrow(message);
    });
  }

  it('marks a header list over its limit but decodes the block to the end (the table stays in step)', () => {
    const decoder = new HpackDecoder();
    const fields = decode(decoder, '828684410f7777772e6578616d706c652e636f6d', 100);
    expect(decoder.overflowed).toBe(true);
    expect(fields.length).toBeLessThan(4);
    expect(decoder.dynamicEntries).toEqual([[':authority', 'www.example.com']]);
  });
});
