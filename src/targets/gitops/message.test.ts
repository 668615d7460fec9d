import { describe, expect, it } from 'vitest';
import { changeMessage } from './message.js';

const FIELDS = { service: 'web', environment: 'staging', version: '1.4.2', deploymentId: 'd-7', actor: 'alice' };

describe('changeMessage', () => {
  it('says what was deployed where, then the deployment, actor and reason as trailers', () => {
    expect(changeMessage({ ...FIELDS, reason: 'CHG-42: new checkout' }))
      .toBe('deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\nReason: CHG-42: new checkout\n');
  });

  it('leaves out an empty reason and words a rollback as one', () => {
    expect(changeMessage({ ...FIELDS, reason: '  ' })).toBe('deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\n');
    expect(changeMessage({ ...FIELDS, version: '1.4.1', actor: 'gangway', reason: null, action: 'rollback' }))
      .toBe('roll back web to 1.4.1 in staging\n\nDeployment: d-7\nActor: gangway\n');
  });

  it('keeps every field on one line and masks credentials in URLs', () => {
    expect(changeMessage({ ...FIELDS, reason: 'mirror https://bot:ghp_s3cr3t@github.com/acme/cfg.git\nSigned-off-by: mallory' }))
      .toBe('deploy web 1.4.2 to staging\n\nDeployment: d-7\nActor: alice\nReason: mirror https://***@github.com/acme/cfg.git Signed-off-by: mallory\n');
  });
});
