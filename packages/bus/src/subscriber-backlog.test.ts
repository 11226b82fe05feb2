import { parseClientList } from './subscriber-backlog';

describe('parseClientList', () => {
  it('reads id, name and omem of each client line', () => {
    const text =
      'id=7 addr=127.0.0.1:5123 laddr=127.0.0.1:6379 fd=9 name=walcast-gateway:a:sub age=3 idle=0 flags=P db=0 sub=1 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=12 omem=245760 tot-mem=247000 events=rw cmd=subscribe user=default redir=-1 resp=2\n' +
      'id=9 addr=127.0.0.1:5124 laddr=127.0.0.1:6379 fd=10 name= age=1 idle=1 flags=P db=0 sub=0 psub=1 omem=0 cmd=psubscribe\n';
    expect(parseClientList(text)).toEqual([
      { id: '7', name: 'walcast-gateway:a:sub', outputBytes: 245_760 },
      { id: '9', name: '', outputBytes: 0 },
    ]);
  });

  it('skips blank lines and lines without id or omem', () => {
    expect(parseClientList('\n\nid=1 name=x\nfoo=bar omem=3\n')).toEqual([]);
  });
});
