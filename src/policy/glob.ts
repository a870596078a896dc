/** A compiled tool-name glob: true when the whole name matches. */
export type GlobMatcher = (name: string) => boolean;

/**
 * Compiles a glob of a rule's `tools` (`*` any run of characters, `?` one character, the
 * rest literal) into a matcher whose time grows with the name's length times the glob's,
 * whatever the glob. A regular expression such as `^.*a.*a.*b$` would backtrack through
 * every way of placing its stars: a glob like `*a*a*a*a*a*a*a*a*b` would hold the process
 * for minutes on one 128-character name, on every call and every tool listing.
 *
 * The stars split the glob into fixed-length pieces: the first must start the name, the
 * last end it, and each between is placed at its leftmost fit after the one before, which
 * leaves the most room for the rest.
 */
export function compileGlob(glob: string): GlobMatcher {
  const pieces = glob.split('*').map(toPiece);
  const first = pieces[0] as Piece;
  if (pieces.length === 1) return (name) => name.length === first.text.length && pieceAt(name, 0, first);
  const last = pieces[pieces.length - 1] as Piece;
  const middle = pieces.slice(1, -1).filter((piece) => piece.text !== '');
  if (middle.length === 0 && !first.wild && !last.wild) {
    const fixed = first.text.length + last.text.length;
    return (name) => name.length >= fixed && name.startsWith(first.text) && name.endsWith(last.text);
  }
  return (name) => {
    const end = name.length - last.text.length;
    if (end < first.text.length || !pieceAt(name, 0, first) || !pieceAt(name, end, last)) return false;
    let at = first.text.length;
    for (const piece of middle) {
      const found = leftmostFit(name, piece, at, end);
      if (found === -1) return false;
      at = found + piece.text.length;
    }
    return true;
  };
}

/** A run of the glob between stars; `wild` when it holds a `?`. */
interface Piece {
  text: string;
  wild: boolean;
}

function toPiece(text: string): Piece {
  return { text, wild: text.includes('?') };
}

const QUESTION_MARK = 63;

/** Whether `piece` matches `name` at `at`. */
function pieceAt(name: string, at: number, piece: Piece): boolean {
  if (!piece.wild) return name.startsWith(piece.text, at);
  const { text } = piece;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (code !== QUESTION_MARK && code !== name.charCodeAt(at + index)) return false;
  }
  return true;
}

/** The first index from `from` at which `piece` matches and ends by `end`; -1 when there is none. */
function leftmostFit(name: string, piece: Piece, from: number, end: number): number {
  if (!piece.wild) {
    const found = name.indexOf(piece.text, from);
    return found !== -1 && found + piece.text.length <= end ? found : -1;
  }
  for (let index = from; index + piece.text.length <= end; index++) if (pieceAt(name, index, piece)) return index;
  return -1;
}
