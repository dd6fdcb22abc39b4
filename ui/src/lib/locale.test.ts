import { describe, expect, it } from 'vitest';
import { repairNavigatorLanguage, usableLanguages } from './locale';

describe('usableLanguages', () => {
  it('drops the C locale that WebKitGTK reports and falls back to en-US', () => {
    expect(() => new Intl.NumberFormat('C')).toThrow(RangeError);
    expect(usableLanguages('C', ['C'])).toEqual(['en-US']);
    expect(usableLanguages('c', ['c', 'fr-FR'])).toEqual(['fr-FR']);
    expect(usableLanguages(undefined)).toEqual(['en-US']);
  });
  it('keeps valid tags in order, once each', () => {
    expect(usableLanguages('de-DE', ['de-DE', 'en'])).toEqual(['de-DE', 'en']);
  });
});

describe('repairNavigatorLanguage', () => {
  it('replaces an invalid navigator.language so Intl accepts it', () => {
    const nav = { language: 'C', languages: ['C'] } as unknown as Navigator;
    repairNavigatorLanguage(nav);
    expect(nav.language).toBe('en-US');
    expect(nav.languages).toEqual(['en-US']);
    expect(() => new Intl.NumberFormat(nav.language)).not.toThrow();
  });
  it('leaves a valid one alone', () => {
    const nav = { language: 'pt-BR', languages: ['pt-BR', 'C'] } as unknown as Navigator;
    repairNavigatorLanguage(nav);
    expect([nav.language, nav.languages]).toEqual(['pt-BR', ['pt-BR', 'C']]);
  });
});
