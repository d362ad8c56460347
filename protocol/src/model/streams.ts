/** Stream purposes of model operators (keyed by task seed, sample, shard). */
export const STREAMS = { init: 'model-init', batch: 'model-batch', mask: 'model-mlm-mask', adv: 'model-adv-init' } as const;
