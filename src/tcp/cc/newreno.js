import { Reno } from './reno.js';
export class NewReno extends Reno {
    name = 'newreno';
    recoveryStyle = 'newreno';
}
