/**
 * Run announcements: how a launcher tells the swarm about its run, and how volunteers and
 * `masha status` learn about runs.
 *
 * The launcher republishes, every second or so on the `masha/runs/1` topic, one message
 *   { v: 1, manifest, files, state: "open" | "finished", startedAt, outcome? }
 * where `outcome` (finished runs) says how the run ended: { stop, reached, iterations,
 * committedRounds } (`reached` null until the launcher has computed it).
 * as protocol frames (so it may exceed one frame: inline problems, problem files) with the run id
 * in every frame header, a kind and codec of their own, and a fresh message id each time (gossip
 * de-duplicates identical bytes). `files` carries the text of a problem file the manifest names
 * (`problem.kind = "file"`), pinned by the manifest's SHA-256, since volunteers cannot read the
 * launcher's disk.
 *
 * Untrusted input: frames go through a Reassembler (8 MiB per announcement, 4 partial
 * announcements per sender, 30 s age); the body must be UTF-8 JSON of the envelope above
 * (zod), its manifest must validate (`parseManifest`), and `runIdOf(manifest)` must equal the run
 * id of the frames — otherwise the announcement is refused and counted by reason. The author of an
 * announcement is the gossip message's signed author.
 *
 * **Signed by the launcher.** A manifest that names its launcher's key (`launcher`, which the run id
 * therefore binds) is announced with `seq` (increasing: the launcher's clock in ms at publication,
 * so a restarted launcher goes on increasing), `expiresAt` (ms since the Unix epoch), an `anchor`
 * (the epoch certificate chain its observer holds, base64: peers that join mid-run start trusting
 * epochs from it) and `sig`, the launcher's Ed25519 signature of the canonical JSON of everything
 * else. Readers refuse such an announcement unsigned, badly signed, expired, or with a `seq` not
 * above the last one they took for that run: no one but the launcher can announce or end its run,
 * and an old announcement cannot be replayed.
 */
import { utf8DecodeStrict, utf8Encode } from '../utf8.js';
import { MashaError, ValidationError } from '../errors.js';
import { encodeFrames } from '../frames/encode.js';
import { FrameError } from '../frames/frame-error.js';
import { Reassembler } from '../frames/reassembler.js';
import { canonicalJson, runIdOf, sha256Hex } from '../manifest/canonical.js';
import { ed25519Sign, ed25519Verify } from '../trust/ed25519.js';
import { base64Decode, base64Encode } from '../trust/base64.js';
import { parseManifest, type Manifest } from '../manifest/schema.js';
import { z } from 'zod';
import { STOP_REASONS, type StopReason } from './summary.js';

/** Frame header kind and codec of announcements (engine messages use kinds 1–8, codec 1). */
export const ANNOUNCE_KIND = 0x80;
export const JSON_CODEC = 2;
export const ANNOUNCE_VERSION = 1;
export const MAX_ANNOUNCE_BYTES = 8 * 1024 * 1024;
const MAX_FILES = 4;

export type RunState = 'open' | 'finished';

export class AnnounceError extends MashaError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

const envelopeSchema = z.strictObject({
  v: z.literal(ANNOUNCE_VERSION),
  manifest: z.unknown(),
  files: z.record(z.string().min(1).max(4096), z.string()).refine((r) => Object.keys(r).length <= MAX_FILES, `at most ${MAX_FILES} files`),
  state: z.enum(['open', 'finished']),
  /** Launcher's wall clock (ms since the epoch) when the run was first published. */
  startedAt: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  outcome: z
    .strictObject({
      stop: z.enum(STOP_REASONS),
      reached: z.boolean().nullable(),
      iterations: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
      committedRounds: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
    })
    .optional(),
  seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  expiresAt: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional(),
  anchor: z
    .base64()
    .max(32 * 1024)
    .optional(),
  sig: z
    .string()
    .regex(/^[0-9a-f]{128}$/)
    .optional(),
  /** A resumed run: where it continues (the launcher's checkpoint) and who serves that state. */
  resume: z
    .strictObject({
      round: z.number().int().min(0).max(0xffffffff),
      commitEpoch: z.number().int().min(0).max(0xffffffff),
      epoch: z.number().int().min(0).max(0xffffffff),
      digest: z.string().regex(/^[0-9a-f]{64}$/),
      source: z.string().min(1).max(128),
    })
    .optional(),
});

/** How long a signed announcement stays valid (ms): a few republication periods. */
export const ANNOUNCE_TTL_MS = 30_000;

function announceSigningBytes(runId: string, envelope: Record<string, unknown>): Uint8Array {
  return utf8Encode(`masha-announce/1:${runId}:${canonicalJson(envelope)}`);
}

function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

function unhex(h: string): Uint8Array {
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function b64(b: Uint8Array): string {
  return base64Encode(b);
}

function unb64(t: string): Uint8Array {
  return base64Decode(t) ?? new Uint8Array(0);
}

/** Where a resumed run continues, as announced (engine/context.ts ResumePoint, digest as hex). */
export interface AnnouncedResume {
  readonly round: number;
  readonly commitEpoch: number;
  readonly epoch: number;
  readonly digest: string;
  readonly source: string;
}

/** How a finished run ended, as its launcher announces it. */
export interface RunOutcome {
  readonly stop: StopReason;
  /** Whether the target was met; null until the launcher has computed it. */
  readonly reached: boolean | null;
  readonly iterations: number;
  readonly committedRounds: number;
}

export interface RunAnnouncement {
  readonly runId: string;
  readonly manifest: Manifest;
  readonly files: Readonly<Record<string, string>>;
  readonly state: RunState;
  readonly startedAt: number;
  /** How the run ended (finished runs whose launcher said so). */
  readonly outcome?: RunOutcome;
  /** Set when the run was resumed from a checkpoint (`masha launch --resume`). */
  readonly resume?: AnnouncedResume;
  /** Peer id of the launcher (the announcement's authenticated author). */
  readonly launcher: string;
  /** Signed announcements: sequence number, expiry, and the launcher's epoch anchor (encoded chain). */
  readonly seq?: number;
  readonly expiresAt?: number;
  readonly anchor?: Uint8Array;
  /** True when the launcher's key (the manifest's `launcher`) signed it. */
  readonly signed?: boolean;
}

/** What a launcher signs its announcements with. */
export interface AnnounceSigner {
  /** The launcher's Ed25519 secret key (the manifest's `launcher` is its public key). */
  readonly secretKey: Uint8Array;
  /** Wall clock (ms since the Unix epoch): seq and expiry. */
  readonly now: () => number;
  /** The epoch certificate chain to vouch for (the launcher's observer's), if any. */
  readonly anchor?: () => Uint8Array | null;
}

/**
 * For a manifest naming a problem file: the file's text (read by the caller) keyed by the path the
 * manifest uses, and the manifest with the file's SHA-256 pinned (so volunteers can check it).
 */
export function pinProblemFile(manifest: Manifest, readFile: (path: string) => string): { manifest: Manifest; files: Record<string, string> } {
  if (manifest.problem.kind !== 'file') return { manifest, files: {} };
  const text = readFile(manifest.problem.path);
  const digest = sha256Hex(text);
  if (manifest.problem.sha256 !== undefined && manifest.problem.sha256 !== digest) {
    throw new ValidationError('problem.sha256', `the contents of ${manifest.problem.path} do not match the manifest's SHA-256`);
  }
  const pinned = parseManifest({ ...manifest, problem: { ...manifest.problem, sha256: digest } });
  return { manifest: pinned, files: { [manifest.problem.path]: text } };
}

/** The frames of one announcement (a fresh `messageId` per publication). */
export function encodeAnnouncement(
  a: Pick<RunAnnouncement, 'manifest' | 'files' | 'state' | 'startedAt' | 'outcome' | 'resume'>,
  sender: string,
  messageId: number,
  frameSize: number,
  signer?: AnnounceSigner,
): Uint8Array[] {
  const envelope: Record<string, unknown> = {
    v: ANNOUNCE_VERSION,
    manifest: a.manifest,
    files: a.files,
    state: a.state,
    startedAt: a.startedAt,
    ...(a.outcome !== undefined ? { outcome: a.outcome } : {}),
    ...(a.resume !== undefined ? { resume: a.resume } : {}),
  };
  if (a.manifest.launcher !== undefined) {
    if (signer === undefined) throw new AnnounceError('unsigned', "a run whose manifest names its launcher's key is announced signed");
    const now = signer.now();
    envelope.seq = now;
    envelope.expiresAt = now + ANNOUNCE_TTL_MS;
    const anchor = signer.anchor?.() ?? null;
    if (anchor !== null) envelope.anchor = b64(anchor);
    envelope.sig = hex(ed25519Sign(signer.secretKey, announceSigningBytes(runIdOf(a.manifest), envelope)));
  }
  const body = utf8Encode(JSON.stringify(envelope));
  if (body.length > MAX_ANNOUNCE_BYTES) {
    throw new AnnounceError(
      'too-large',
      `the run announcement is ${body.length} bytes (limit ${MAX_ANNOUNCE_BYTES}): use a generated problem or a smaller problem file`,
    );
  }
  const runId = runIdOf(a.manifest);
  return encodeFrames({ kind: ANNOUNCE_KIND, runId, epoch: 0, round: 0, phase: 0, sender, codec: JSON_CODEC, body }, { frameSize, messageId: messageId >>> 0 });
}

/** Reassembles and validates announcements from raw frames. */
export class AnnouncementReader {
  private readonly reassembler = new Reassembler({
    maxMessageBytes: (h) => (h.kind === ANNOUNCE_KIND && h.codec === JSON_CODEC ? MAX_ANNOUNCE_BYTES : 0),
    maxPartialsPerSender: 4,
    maxPartials: 256,
    maxBufferedBytes: 64 * 1024 * 1024,
    maxAgeMs: 30_000,
  });
  /** Refused frames and announcements, by reason. */
  readonly rejected: Record<string, number> = {};
  /** The last sequence number taken per run (signed runs). */
  private readonly seqs = new Map<string, number>();

  /** `wallClock`: ms since the Unix epoch, for the expiry of signed announcements (none: expiry unchecked). */
  constructor(private readonly wallClock: (() => number) | null = null) {}

  /**
   * Takes one frame from `from` (the gossip author, or undefined when unknown). Returns an
   * announcement when this frame completes a valid one; null when incomplete or refused.
   */
  accept(frame: Uint8Array, now: number, from?: string): RunAnnouncement | null {
    let msg;
    try {
      msg = this.reassembler.acceptBytes(frame, now, from);
    } catch (e) {
      if (e instanceof FrameError) {
        this.count(e.code);
        return null;
      }
      throw e;
    }
    if (msg === null) return null;
    try {
      const a = decodeAnnouncementBody(msg.runId, msg.sender, msg.body, this.wallClock?.());
      if (a.seq !== undefined) {
        const last = this.seqs.get(a.runId);
        if (last !== undefined && a.seq <= last) {
          this.count('replayed');
          return null;
        }
        if (this.seqs.size > 1024) this.seqs.clear();
        this.seqs.set(a.runId, a.seq);
      }
      return a;
    } catch (e) {
      if (e instanceof MashaError) {
        this.count(e instanceof ValidationError ? 'bad-manifest' : e.code);
        return null;
      }
      throw e;
    }
  }

  expire(now: number): void {
    this.reassembler.expire(now);
  }

  private count(reason: string): void {
    this.rejected[reason] = (this.rejected[reason] ?? 0) + 1;
  }
}

/**
 * Validates an announcement body whose frames named `runId` (signed runs: signature and, given
 * `now` in ms since the Unix epoch, expiry). Throws AnnounceError or ValidationError.
 */
export function decodeAnnouncementBody(runId: string, sender: string, body: Uint8Array, now?: number): RunAnnouncement {
  let json: unknown;
  try {
    json = JSON.parse(utf8DecodeStrict(body));
  } catch (e) {
    throw new AnnounceError('bad-json', `announcement is not UTF-8 JSON: ${(e as Error).message}`);
  }
  const r = envelopeSchema.safeParse(json);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new AnnounceError('bad-envelope', `announcement: ${issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid'}`);
  }
  const manifest = parseManifest(r.data.manifest);
  const id = runIdOf(manifest);
  if (id !== runId) throw new AnnounceError('run-id-mismatch', `announced as run ${runId} but its manifest hashes to ${id}`);
  if (manifest.problem.kind === 'file') {
    const text = r.data.files[manifest.problem.path];
    if (text === undefined) throw new AnnounceError('missing-file', `the problem file ${manifest.problem.path} is not in the announcement`);
    if (manifest.problem.sha256 === undefined || sha256Hex(text) !== manifest.problem.sha256) {
      throw new AnnounceError('bad-file', `the problem file ${manifest.problem.path} does not match the manifest's SHA-256`);
    }
  }
  const d = r.data;
  let signed = false;
  if (manifest.launcher !== undefined) {
    if (d.sig === undefined || d.seq === undefined || d.expiresAt === undefined)
      throw new AnnounceError('unsigned', `run ${runId} names its launcher's key but the announcement is not signed`);
    const { sig, ...rest } = json as Record<string, unknown>;
    if (!ed25519Verify(unhex(manifest.launcher), announceSigningBytes(runId, rest), unhex(sig as string))) {
      throw new AnnounceError('bad-signature', `the announcement of run ${runId} is not signed by its launcher's key`);
    }
    if (now !== undefined && d.expiresAt < now) throw new AnnounceError('expired', `the announcement of run ${runId} expired`);
    signed = true;
  }
  return {
    runId,
    manifest,
    files: d.files,
    state: d.state,
    startedAt: d.startedAt,
    ...(d.outcome !== undefined ? { outcome: d.outcome } : {}),
    ...(d.resume !== undefined ? { resume: d.resume } : {}),
    launcher: sender,
    ...(d.seq !== undefined ? { seq: d.seq } : {}),
    ...(d.expiresAt !== undefined ? { expiresAt: d.expiresAt } : {}),
    ...(d.anchor !== undefined ? { anchor: unb64(d.anchor) } : {}),
    ...(signed ? { signed } : {}),
  };
}
