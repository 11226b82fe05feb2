import { NativeUwsMissingError, assertNativeUws } from './uws';

describe('assertNativeUws', () => {
  it('accepts the Node.js this runs on (20) with the native binary', () => {
    expect(() => assertNativeUws()).not.toThrow();
  });

  it('refuses another Node.js major, saying which are supported and why', () => {
    expect(() => assertNativeUws('22.11.0')).toThrow(NativeUwsMissingError);
    expect(() => assertNativeUws('22.11.0')).toThrow(
      'Node.js 22.11.0 is not supported: the gateway runs on Node.js 16, 18 or 20',
    );
  });
});
