import { describe, expect, it } from 'vitest';
import { describeScenario } from './traffic';

describe('describeScenario', () => {
  it('names the target, the requests with their weights and the setup', () => {
    const line = describeScenario({
      name: 'mixed',
      target: 'gateway',
      setup: 'POST /api/auth/login',
      requests: [
        { method: 'GET', path: '/api/home', weight: 5 },
        { method: 'GET', path: '/api/users/users', weight: 2 },
      ],
    });
    expect(line).toBe('gateway: GET /api/home ×5, GET /api/users/users ×2 (after POST /api/auth/login)');
  });
  it('leaves out the weight of a single request and a missing setup', () => {
    expect(describeScenario({ name: 'storm', target: 'auth', setup: null, requests: [{ method: 'POST', path: '/login', weight: 1 }] })).toBe('auth: POST /login');
  });
});
