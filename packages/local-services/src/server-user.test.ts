import { parsePasswdEntry } from './server-user';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/bash',
  'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
  'postgres:x:101:104:PostgreSQL administrator,,,:/var/lib/postgresql:/bin/bash',
].join('\n');

describe('parsePasswdEntry', () => {
  it('finds uid and gid by exact name', () => {
    expect(parsePasswdEntry(PASSWD, 'postgres')).toEqual({ name: 'postgres', uid: 101, gid: 104 });
    expect(parsePasswdEntry(PASSWD, 'nobody')).toEqual({ name: 'nobody', uid: 65534, gid: 65534 });
  });

  it('returns null for a missing user or a prefix of a name', () => {
    expect(parsePasswdEntry(PASSWD, 'post')).toBeNull();
    expect(parsePasswdEntry('', 'postgres')).toBeNull();
  });
});
