import { describe, expect, it } from 'vitest';
import { AbortSource, NEVER_ABORTED, abortOfSignal } from '../../src/util/call-abort.js';

describe('AbortSource', () => {
  it('tells each listener once, with the reason, and stays aborted', () => {
    const source = new AbortSource();
    const heard: unknown[] = [];
    source.onAbort(() => heard.push(['first', source.reason]));
    source.onAbort(() => heard.push(['second', source.reason]));
    expect(source.aborted).toBe(false);
    source.abort('gone');
    source.abort('again');
    expect(source.aborted).toBe(true);
    expect(source.reason).toBe('gone');
    expect(heard).toEqual([
      ['first', 'gone'],
      ['second', 'gone'],
    ]);
  });

  it('forgets a listener that stopped listening, and a throwing listener does not stop the others', () => {
    const source = new AbortSource();
    const heard: string[] = [];
    const stop = source.onAbort(() => heard.push('removed'));
    source.onAbort(() => {
      throw new Error('listener broke');
    });
    source.onAbort(() => heard.push('kept'));
    stop();
    stop();
    expect(() => source.abort(new Error('x'))).not.toThrow();
    expect(heard).toEqual(['kept']);
  });

  it('does not call a listener added after the abort', () => {
    const source = new AbortSource();
    source.abort('done');
    let called = false;
    const stop = source.onAbort(() => {
      called = true;
    });
    stop();
    expect(called).toBe(false);
  });
});

describe('abortOfSignal', () => {
  it('follows the signal, and stops listening when asked', () => {
    const controller = new AbortController();
    const abort = abortOfSignal(controller.signal);
    const heard: string[] = [];
    abort.onAbort(() => heard.push('kept'));
    const stop = abort.onAbort(() => heard.push('removed'));
    stop();
    const reason = new Error('caller left');
    controller.abort(reason);
    expect(abort.aborted).toBe(true);
    expect(abort.reason).toBe(reason);
    expect(heard).toEqual(['kept']);
  });
});

describe('NEVER_ABORTED', () => {
  it('never fires and cannot be changed', () => {
    expect(NEVER_ABORTED.aborted).toBe(false);
    expect(NEVER_ABORTED.reason).toBeUndefined();
    expect(() => NEVER_ABORTED.onAbort(() => undefined)()).not.toThrow();
    expect(Object.isFrozen(NEVER_ABORTED)).toBe(true);
  });
});
