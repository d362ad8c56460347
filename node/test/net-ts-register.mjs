import { register } from 'node:module';

register('./net-ts-hooks.mjs', import.meta.url);
