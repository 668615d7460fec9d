import { describe, expect, it } from 'vitest';
import { changeMessage, parseChange } from './message.js';

const FIELDS = { service: 'web', environment: 'staging', version: '1.4.2', deploymentId: 'd-7', actor: 'alice' };
const RELEASE = 'Service: web\nEnvironment: staging\nVersion: 1.4.2\n';

describe('changeMessage', () => {
  it('says what was deployed where, then the deployment, actor, reason and release as trailers', () => {
    expect(changeMessage({ ...FIELDS, reason: 'CHG-42: new checkout' }))
      .toBe(`deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\nReason: CHG-42: new checkout\n${RELEASE}`);
  });

  it('leaves out an empty reason and words a rollback as one', () => {
    expect(changeMessage({ ...FIELDS, reason: '  ' })).toBe(`deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\n${RELEASE}`);
    expect(changeMessage({ ...FIELDS, version: '1.4.1', actor: 'gangway', reason: null, action: 'rollback' }))
      .toBe('roll back web to 1.4.1 in staging\n\nDeployment: d-7\nActor: gangway\nService: web\nEnvironment: staging\nVersion: 1.4.1\n');
  });

  it('names the value written when it is not the version (a digest)', () => {
    expect(changeMessage({ ...FIELDS, value: 'sha256:abc' })).toBe(`deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\n${RELEASE}Value: sha256:abc\n`);
    expect(changeMessage({ ...FIELDS, value: '1.4.2' })).toBe(`deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\n${RELEASE}`);
  });

  it('keeps every field on one line and masks credentials in URLs', () => {
    expect(changeMessage({ ...FIELDS, reason: 'mirror https://bot:ghp_s3cr3t@github.com/acme/cfg.git\nSigned-off-by: mallory' }))
      .toBe(`deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\nReason: mirror https://***@github.com/acme/cfg.git Signed-off-by: mallory\n${RELEASE}`);
  });
});

describe('parseChange', () => {
  it('reads Gangway\'s trailers back, and nothing from other commits', () => {
    expect(parseChange('roll back web to 1.4.1 in staging', { Deployment: 'd-7', Actor: 'gangway', Service: 'web', Environment: 'staging', Version: '1.4.1', Value: 'sha256:abc' }))
      .toEqual({ deploymentId: 'd-7', actor: 'gangway', reason: null, service: 'web', environment: 'staging', version: '1.4.1', value: 'sha256:abc', action: 'rollback' });
    expect(parseChange('hotfix by hand', { Deployment: 'd-7', Actor: 'x', Service: 'web', Environment: 'staging', Version: '1' })).toBeNull();
    expect(parseChange('deploy web 1.4.2 to staging', { Actor: 'alice' })).toBeNull();
  });
});
