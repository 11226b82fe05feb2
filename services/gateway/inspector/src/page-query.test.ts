// What the inspector's address fills in.
import { readPageQuery } from './page-query';

describe('readPageQuery', () => {
  it('reads the channel, one binding, private and join', () => {
    expect(readPageQuery('?channel=dev&schema=public&table=users&filter=id%3Dgt.1&private=1&join=1')).toEqual(
      {
        channel: 'dev',
        binding: { schema: 'public', table: 'users', filter: 'id=gt.1' },
        isPrivate: true,
        joinsAtOnce: true,
      },
    );
  });

  it('fills nothing in from an empty address', () => {
    expect(readPageQuery('')).toEqual({ channel: null, binding: null, isPrivate: false, joinsAtOnce: false });
  });

  it('never reads a token from the address', () => {
    const query = readPageQuery('?channel=x&token=abc&apikey=abc&access_token=abc');
    expect(JSON.stringify(query)).not.toContain('abc');
  });
});
