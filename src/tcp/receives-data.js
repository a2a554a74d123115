export function receivesData(state) {
    return state === 'ESTABLISHED' || state === 'FIN-WAIT-1' || state === 'FIN-WAIT-2';
}
