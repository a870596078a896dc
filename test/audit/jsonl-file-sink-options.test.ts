import { describe, expect, it } from 'vitest';
import { type JsonlFileSinkOptions, jsonlFileSink } from '../../src/audit/jsonl-file-sink.js';

// Nothing is opened before the first write: the path need not exist.
const path = '/nonexistent/atg/audit.jsonl';

describe('jsonlFileSink options', () => {
  it.each<[keyof JsonlFileSinkOptions, unknown]>([
    // Infinity hung the first rotation (a loop from Infinity - 1), -1 deleted the current file at
    // each rotation, NaN kept one rotated file: none is a number of files.
    ['maxFiles', Number.POSITIVE_INFINITY],
    ['maxFiles', -1],
    ['maxFiles', Number.NaN],
    ['maxFiles', 2.5],
    ['maxFiles', '5'],
    // NaN never rotated.
    ['maxBytes', Number.NaN],
    ['maxBytes', Number.POSITIVE_INFINITY],
    ['maxBytes', 0],
    ['maxBytes', -1],
    ['maxBytes', 1.5],
    ['maxBytes', '1000'],
  ])('refuses %s: %s with a TypeError naming it', (name, value) => {
    expect(() => jsonlFileSink({ path, [name]: value })).toThrow(new RegExp(`^jsonlFileSink: ${name} must be an integer`));
    expect(() => jsonlFileSink({ path, [name]: value })).toThrow(TypeError);
  });

  it('takes the documented values, the bounds included', () => {
    expect(() => jsonlFileSink({ path })).not.toThrow();
    expect(() => jsonlFileSink({ path, maxBytes: 1, maxFiles: 0 })).not.toThrow();
    expect(() => jsonlFileSink({ path, maxBytes: 2 ** 40, maxFiles: 1000 })).not.toThrow();
  });
});
