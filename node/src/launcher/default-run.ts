/** The default run of `npm start` (defined in @masha/protocol, shared with `masha-sim manifest init`). */
export { ADVERSARIAL_RUN, adversarialManifest, DEFAULT_RUN, defaultManifest } from '@masha/protocol';
