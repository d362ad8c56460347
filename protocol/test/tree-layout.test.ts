import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ancestorsIn, childrenIn, computeLayout, layoutOf, positionOf, SLOW_FRACTION, uploadCopies, type TreeLayout } from '../src/tree/layout.js';
import { decodeRoster, encodeRoster, rateClass, sameMembers, type Roster, type RosterMember } from '../src/tree/roster.js';
import { MessageError } from '../src/engine/bytes.js';

const member = fc.record({
  upKbps: fc.oneof(fc.constant(0), fc.integer({ min: 100, max: 1_000_000 })),
  leaf: fc.boolean(),
});

/** A roster of 0..300 members with random rates and leaf flags, 1..16 stripes asked for. */
const rosterArb = fc
  .record({
    members: fc.array(member, { maxLength: 300 }),
    stripes: fc.integer({ min: 1, max: 16 }),
    version: fc.integer({ min: 1, max: 1000 }),
    epoch: fc.integer({ min: 1, max: 1000 }),
  })
  .map(({ members, stripes, version, epoch }): Roster => ({
    root: 'agg',
    epoch,
    version,
    stripes,
    frameCost: 0,
    latencyCost: 0,
    members: members.map((m, i) => ({ id: `p${String(i).padStart(4, '0')}`, ...m })),
  }));

function homogeneous(n: number, stripes = 8, kbps = 20_000): Roster {
  const members: RosterMember[] = Array.from({ length: n }, (_, i) => ({ id: `p${String(i).padStart(4, '0')}`, upKbps: kbps, leaf: false }));
  return { root: 'agg', epoch: 3, version: 1, stripes, frameCost: 0, latencyCost: 0, members };
}

/** Checks the tree invariants of a layout; returns the per-member count of trees it is interior in. */
function checkTrees(L: TreeLayout): number[] {
  const n = L.roster.members.length;
  const interiorIn = new Array<number>(n).fill(0);
  for (const t of L.trees) {
    // Every member has a parent, the parent chain ends at the root, depth = chain length.
    for (let i = 0; i < n; i++) {
      let d = 0;
      for (let j = i; j !== -1; j = t.parent[j]) {
        d++;
        if (d > n + 1) throw new Error('cycle');
      }
      expect(t.depth[i]).toBe(d);
    }
    // Children lists are the inverse of the parent map; each member is some node's child once.
    const seen = new Array<number>(n).fill(0);
    for (const c of t.rootChildren) {
      expect(t.parent[c]).toBe(-1);
      seen[c]++;
    }
    for (let i = 0; i < n; i++) {
      const k = t.childStart[i + 1] - t.childStart[i];
      if (k > 0) interiorIn[i]++;
      for (let j = t.childStart[i]; j < t.childStart[i + 1]; j++) {
        expect(t.parent[t.childList[j]]).toBe(i);
        seen[t.childList[j]]++;
      }
    }
    for (let i = 0; i < n; i++) expect(seen[i]).toBe(1);
  }
  return interiorIn;
}

describe('relay-tree layout', () => {
  it('spans every member once per stripe, interior in at most one tree, leaves and slow members never relay', () => {
    fc.assert(
      fc.property(rosterArb, (roster) => {
        const L = computeLayout(roster);
        const n = roster.members.length;
        expect(L.stripes).toBeGreaterThanOrEqual(1);
        expect(L.stripes).toBeLessThanOrEqual(roster.stripes);
        expect(L.trees.length).toBe(L.stripes);
        const interiorIn = checkTrees(L);
        const known = roster.members
          .filter((m) => m.upKbps > 0)
          .map((m) => m.upKbps)
          .sort((a, b) => a - b);
        const median = known.length === 0 ? 1 : known.length % 2 ? known[known.length >> 1] : (known[known.length / 2 - 1] + known[known.length / 2]) / 2;
        const slow = (m: RosterMember): boolean => (m.upKbps > 0 ? m.upKbps : median) < SLOW_FRACTION * median;
        const anyRelay = roster.members.some((m) => !m.leaf && !slow(m));
        for (let i = 0; i < n; i++) {
          const m = roster.members[i];
          expect(interiorIn[i]).toBeLessThanOrEqual(1);
          // Leaves relay only when nobody else can; slow members never.
          if ((m.leaf && anyRelay) || slow(m)) expect(interiorIn[i]).toBe(0);
        }
        // With relays, the root feeds one child per stripe: one copy of each broadcast in all.
        const u = uploadCopies(L);
        if (L.relays > 0 && n > 0) expect(u.root).toBeCloseTo(1, 12);
        else expect(u.root).toBeCloseTo(n, 12);
        if (n > 0 && roster.members.some((m) => !slow(m))) expect(L.relays).toBeGreaterThan(0);
        // Uploads add up: every member receives each stripe once.
        let total = u.root;
        for (const x of u.members) total += x;
        expect(total).toBeCloseTo(n, 9);
      }),
      { numRuns: 150 },
    );
  });

  it('is a pure function of the roster (and cached by roster object)', () => {
    fc.assert(
      fc.property(rosterArb, (roster) => {
        const a = computeLayout(roster);
        const b = computeLayout(JSON.parse(JSON.stringify(roster)) as Roster);
        expect(b.stripes).toBe(a.stripes);
        for (let s = 0; s < a.stripes; s++) {
          expect(Array.from(b.trees[s].parent)).toEqual(Array.from(a.trees[s].parent));
          expect(Array.from(b.trees[s].childList)).toEqual(Array.from(a.trees[s].childList));
        }
      }),
      { numRuns: 40 },
    );
    const r = homogeneous(50);
    expect(layoutOf(r)).toBe(layoutOf(r));
  });

  it('keeps the root at one copy and every relay near one copy from 3 to 999 homogeneous members', () => {
    for (const n of [3, 7, 15, 63, 255, 999]) {
      const L = computeLayout(homogeneous(n));
      const u = uploadCopies(L);
      expect(u.root).toBeCloseTo(1, 12);
      let max = 0;
      for (const x of u.members) max = Math.max(max, x);
      // One stripe's worth of rounding at most.
      expect(max).toBeLessThanOrEqual(1 + 1 / L.stripes + 1e-9);
      expect(L.bottleneck).toBeLessThanOrEqual(1 + 1 / L.stripes + 1e-9);
      // Shallow: a few levels even at 999.
      expect(L.maxDepth).toBeLessThanOrEqual(n <= 7 ? 2 : n <= 63 ? 4 : 8);
    }
  });

  it("weighs depth by the roster's cost model: costly hops give wider, shallower trees", () => {
    const members = homogeneous(999, 16).members;
    const cheap = computeLayout({ root: 'agg', epoch: 1, version: 1, stripes: 16, frameCost: 100, latencyCost: 1_000, members });
    // 1.6 MB commits in 4 KiB frames at 20 Mbit/s with 40 ms hops: f/S = 0.0026, L·u/S = 0.0625.
    const costly = computeLayout({ root: 'agg', epoch: 1, version: 1, stripes: 16, frameCost: 2_560, latencyCost: 62_500, members });
    expect(costly.maxDepth).toBeLessThan(cheap.maxDepth);
    expect(costly.stripes).toBeGreaterThan(cheap.stripes);
    // Still about one copy per uploader.
    expect(costly.bottleneck).toBeLessThan(1.2);
  });

  it('gives faster members more children and puts them nearer the root', () => {
    // Half the members upload 4× faster than the others.
    const members: RosterMember[] = Array.from({ length: 200 }, (_, i) => ({
      id: `p${String(i).padStart(4, '0')}`,
      upKbps: i % 2 === 0 ? 80_000 : 20_000,
      leaf: false,
    }));
    const L = computeLayout({ root: 'agg', epoch: 1, version: 1, stripes: 8, frameCost: 0, latencyCost: 0, members });
    const u = uploadCopies(L);
    let fast = 0;
    let slow = 0;
    for (let i = 0; i < 200; i++) {
      if (i % 2 === 0) fast += u.members[i];
      else slow += u.members[i];
    }
    expect(fast / slow).toBeGreaterThan(3);
    expect(fast / slow).toBeLessThan(5);
    // The stripe roots (the root's children) are fast members.
    for (const t of L.trees) for (const c of t.rootChildren) expect(c % 2).toBe(0);
  });

  it('makes browser tabs and slow links leaves, and lets tabs relay when nobody else can', () => {
    const members: RosterMember[] = [
      { id: 'fast1', upKbps: 20_000, leaf: false },
      { id: 'fast2', upKbps: 20_000, leaf: false },
      { id: 'slow', upKbps: 1_000, leaf: false },
      { id: 'tab1', upKbps: 50_000, leaf: true },
      { id: 'tab2', upKbps: 0, leaf: true },
    ];
    const L = computeLayout({ root: 'agg', epoch: 1, version: 1, stripes: 4, frameCost: 0, latencyCost: 0, members });
    expect(L.relays).toBe(2);
    const u = uploadCopies(L);
    expect(u.members[2]).toBe(0);
    expect(u.members[3]).toBe(0);
    expect(u.members[4]).toBe(0);
    const tabs: RosterMember[] = Array.from({ length: 9 }, (_, i) => ({ id: `tab${i}`, upKbps: 0, leaf: true }));
    const onlyTabs = computeLayout({ root: 'agg', epoch: 1, version: 1, stripes: 4, frameCost: 0, latencyCost: 0, members: tabs });
    expect(onlyTabs.relays).toBe(9);
    expect(uploadCopies(onlyTabs).root).toBeCloseTo(1, 12);
    // A member far below the median never relays, even when it is one of few.
    const star = computeLayout({
      root: 'agg',
      epoch: 1,
      version: 1,
      stripes: 4,
      frameCost: 0,
      latencyCost: 0,
      members: [...members.slice(0, 2), { id: 'z', upKbps: 1, leaf: false }].map((m, i) => ({ ...m, upKbps: i < 2 ? 1_000_000 : 1 })),
    });
    expect(star.relays).toBe(2);
  });

  it('answers positions, children and ancestors consistently', () => {
    const L = computeLayout(homogeneous(40));
    const root = positionOf(L, 'agg');
    expect(root?.isRoot).toBe(true);
    expect(positionOf(L, 'stranger')).toBeNull();
    for (let s = 0; s < L.stripes; s++) {
      for (const m of L.roster.members) {
        const pos = positionOf(L, m.id);
        if (pos === null) throw new Error('member not placed');
        const anc = ancestorsIn(L, s, pos);
        expect(anc[anc.length - 1]).toBe('agg');
        expect(anc.length).toBe(L.trees[s].depth[pos.member]);
        const parentPos = anc[0] === 'agg' ? root : positionOf(L, anc[0]);
        if (parentPos === null) throw new Error('parent not placed');
        expect(childrenIn(L, s, parentPos)).toContain(m.id);
      }
    }
  });
});

describe('roster codec', () => {
  it('round-trips and refuses what it must', () => {
    fc.assert(
      fc.property(rosterArb, (roster) => {
        const published = { ...roster, members: roster.members.map((m) => ({ ...m, upKbps: rateClass(m.upKbps) })) };
        const back = decodeRoster(encodeRoster(published), 'agg', roster.epoch);
        expect(sameMembers(back, published)).toBe(true);
        expect(back.version).toBe(roster.version);
        expect(back.root).toBe('agg');
      }),
      { numRuns: 50 },
    );
    const ok = encodeRoster({
      version: 1,
      stripes: 2,
      frameCost: 0,
      latencyCost: 0,
      members: [
        { id: 'a', upKbps: 5, leaf: false },
        { id: 'b', upKbps: 0, leaf: true },
      ],
    });
    expect(() => decodeRoster(ok, 'a', 1)).toThrow(/root is not a member/);
    expect(() => decodeRoster(ok.subarray(0, ok.length - 1), 'x', 1)).toThrow(MessageError);
    const bad = ok.slice();
    bad[1] = 0; // stripes
    expect(() => decodeRoster(bad, 'x', 1)).toThrow(/stripes/);
    expect(() =>
      encodeRoster({
        version: 1,
        stripes: 1,
        frameCost: 0,
        latencyCost: 0,
        members: [
          { id: 'b', upKbps: 0, leaf: false },
          { id: 'a', upKbps: 0, leaf: false },
        ],
      }),
    ).toThrow(RangeError);
  });

  it('publishes rates as classes: near rates share one, far ones differ', () => {
    expect(rateClass(0)).toBe(0);
    expect(rateClass(20_000)).toBe(rateClass(20_500));
    expect(rateClass(20_000)).not.toBe(rateClass(30_000));
    for (const r of [1, 150, 20_000, 1e6, 9e7]) expect(Math.abs(rateClass(r) / r - 1)).toBeLessThan(0.1);
  });
});
