/**
 * CPU profiling of a steady state: the V8 sampling profiler started and stopped on request
 * through the inspector (the same profiles `node --cpu-prof` writes, without the start-up
 * and module loading that a whole-process profile would mix in).
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/** A running profile: `stop` writes it to `file` (a `.cpuprofile`, readable by Chrome DevTools). */
export interface RunningProfile {
  stop(): Promise<void>;
}

/** Starts sampling this thread every `intervalMicroseconds` (default 100 µs). */
export async function startCpuProfile(file: string, intervalMicroseconds = 100): Promise<RunningProfile> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalMicroseconds });
  await session.post('Profiler.start');
  return {
    async stop() {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      await session.post('Profiler.disable');
      session.disconnect();
    },
  };
}
