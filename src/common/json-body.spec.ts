import { outOfRangeNumber, protoKey } from './json-body';

const check = (text: string) => ({ huge: outOfRangeNumber(text, JSON.parse(text)), proto: protoKey(text, JSON.parse(text)) });

describe('JSON body checks', () => {
  it('finds a number JSON.parse read as Infinity, and says where', () => {
    expect(check('{"a":[1,{"b":1e400}]}').huge).toBe('a[1].b');
    expect(check(`[-${'9'.repeat(309)}]`).huge).toBe('[0]');
    expect(check('1e999').huge).toBe('(the body)');
  });

  it('lets large finite numbers and such text inside strings pass', () => {
    expect(check('{"a":1.7976931348623157e308,"b":"1e400","c":1e-400}').huge).toBeNull();
  });

  it('finds a __proto__ key however it is escaped, and nothing else', () => {
    expect(check('{"x":{"__proto__":{}}}').proto).toBe('x.__proto__');
    expect(check('[{"\\u005f\\u005fproto\\u005f\\u005f":1}]').proto).toBe('[0].__proto__');
    expect(check('{"proto":"__proto__","constructor":{"prototype":{}}}').proto).toBeNull();
  });
});
