/** Set when the package is built (tsup `define`) and in the test runner. */
declare const __ATG_VERSION__: string | undefined;

/** This package's version, as built; `0.0.0-dev` when its sources run unbuilt (`npm start`). */
export const PACKAGE_VERSION: string = typeof __ATG_VERSION__ === 'string' ? __ATG_VERSION__ : '0.0.0-dev';
