import safeRegex from 'safe-regex2';

/**
 * True when a regular expression may take time exponential in the length of the text it is
 * tried on: nested quantifiers (`(a+)+`) or back-references. Patterns written by admins and
 * tool authors are tried on text agents send, and one such pattern blocks the event loop
 * for every call; they are refused where they are given (policy `matches`, tool schemas).
 */
export function mayBacktrackCatastrophically(source: string, pattern: RegExp): boolean {
  return /\\[1-9]|\\k</.test(source) || !safeRegex(pattern, { limit: 25 });
}
