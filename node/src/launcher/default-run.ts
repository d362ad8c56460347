/** The default run of `npm start` (defined in @masha/protocol, shared with `masha-sim manifest init`). */
export { DEFAULT_RUN, defaultManifest } from '@masha/protocol';
