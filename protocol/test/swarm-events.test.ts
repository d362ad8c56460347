import { describe, expect, it } from 'vitest';
import { EventLineError, parseEventLine } from '../src/swarm/events.js';

describe('events.jsonl line schema', () => {
  it('accepts host records, simulator events and runtime events', () => {
    const lines = [
      '{"t":1.5,"ev":"commit","peer":"p1","epoch":1,"round":3,"iteration":2,"phase":"diff","included":4,"digest":"ab12"}',
      '{"t":0,"ev":"done","peer":"p1","reason":"target","round":9,"iteration":7,"digest":"00","relDist":1e-7}',
      '{"t":2,"ev":"drop","peer":"p2","from":"p1","reason":"lost","bytes":120}',
      '{"t":1733300000.123,"ev":"exit","peer":"12D3Koo","reason":"done:target","round":40}',
      '{"t":3,"ev":"heal","peer":null}',
      '{"t":1733300000.5,"ev":"device","peer":"12D3Koo","requested":"auto","provider":"cpu","gpu":false,"reason":"the CPU (no usable GPU)","probes":[{"provider":"webgpu","ok":false,"reason":"no WebGPU adapter on this machine","worstError":null,"ms":null}]}',
      '{"t":1733300000.5,"ev":"device","peer":"12D3Koo","requested":"gpu","provider":"cuda","gpu":true,"reason":"the GPU","probes":[{"provider":"cuda","ok":true,"reason":"agrees with the CPU","worstError":0.02,"ms":1.5}]}',
    ];
    for (const l of lines) expect(parseEventLine(l).t).toBeGreaterThanOrEqual(0);
  });

  it('refuses unknown events, unknown counters, extra fields and non-finite times, naming the problem', () => {
    const bad: [string, RegExp][] = [
      ['{"t":1,"ev":"teleport","peer":"p"}', /teleport/],
      ['{"t":1,"ev":"metric","peer":"p","name":"made-up","value":1}', /metric.*name/],
      ['{"t":1,"ev":"election","peer":"p","epoch":1,"aggregator":"q","extra":1}', /election/],
      ['{"t":-1,"ev":"join","peer":"p"}', /join.*t/],
      ['{"t":1,"ev":"commit"', /not JSON/],
      ['{"t":1,"ev":"device","peer":"p","requested":"auto","provider":"tpu","gpu":true,"reason":"","probes":[]}', /device.*provider/],
      [
        '{"t":1,"ev":"device","peer":"p","requested":"auto","provider":"cpu","gpu":false,"reason":"","probes":[{"provider":"cuda","ok":true,"reason":"","worstError":-1,"ms":null}]}',
        /device.*probes/,
      ],
    ];
    for (const [line, msg] of bad) {
      let err: unknown = null;
      try {
        parseEventLine(line);
      } catch (e) {
        err = e;
      }
      expect(err, line).toBeInstanceOf(EventLineError);
      expect((err as Error).message, line).toMatch(msg);
    }
  });
});
