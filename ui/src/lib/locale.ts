// WebKitGTK turns the C/POSIX locale (LANG=C.UTF-8, usual in containers and minimal systems)
// into navigator.language "C" (or "c"), which is no BCP 47 tag: `new Intl.NumberFormat("C")`
// throws a RangeError — and uPlot runs exactly that while its module loads, which left the
// desktop window blank. main.ts imports this first, so the page never exposes an invalid tag.

function isTag(tag: string): boolean {
  try {
    return Intl.getCanonicalLocales(tag).length === 1;
  } catch {
    return false;
  }
}

/** The first valid language tag of `language` then `languages`, else `en-US`. */
export function usableLanguages(language: string | undefined, languages: readonly string[] = []): string[] {
  const valid = [language, ...languages].filter((l): l is string => !!l && isTag(l));
  const unique = [...new Set(valid)];
  return unique.length > 0 ? unique : ['en-US'];
}

/** Replaces an invalid `navigator.language(s)` with valid tags; a valid one is left alone. */
export function repairNavigatorLanguage(nav: Navigator | undefined = globalThis.navigator): void {
  if (!nav || isTag(nav.language ?? '')) return;
  const languages = usableLanguages(nav.language, nav.languages ?? []);
  Object.defineProperty(nav, 'language', { value: languages[0], configurable: true });
  Object.defineProperty(nav, 'languages', { value: Object.freeze(languages), configurable: true });
}

repairNavigatorLanguage();
