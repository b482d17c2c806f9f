import { formatDuration, parseDuration } from './durations';

describe('parseDuration', () => {
  it.each([
    ['900', 900],
    ['90s', 90],
    ['15m', 900],
    ['2h', 7_200],
    ['1d', 86_400],
    ['1h30m', 5_400],
    ['1.5h', 5_400],
    [' 15M ', 900],
    ['0.5', 0.5],
  ])('%s is %d seconds', (text, seconds) => {
    expect(parseDuration(text)).toBe(seconds);
  });

  it.each(['', '0', '0s', '-5', '15x', 'm', '15 m', '1h-30m', 'abc', '1e3', 'Infinity'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe('formatDuration', () => {
  it.each([
    [250, '250ms'],
    [4_000, '4s'],
    [252_000, '4m 12s'],
    [240_000, '4m'],
    [7_500_000, '2h 5m'],
    [90_000_000, '1d 1h'],
  ])('%d ms reads %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
