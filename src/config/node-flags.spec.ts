import { withNodeEnvironment } from './node-flags.js';

describe(withNodeEnvironment.name, () => {
  it('gives the service two malloc arenas unless its environment says otherwise', () => {
    expect(withNodeEnvironment({ PATH: '/usr/bin' })).toEqual({ PATH: '/usr/bin', MALLOC_ARENA_MAX: '2' });
    expect(withNodeEnvironment({ MALLOC_ARENA_MAX: '8' }).MALLOC_ARENA_MAX).toBe('8');
  });
});
