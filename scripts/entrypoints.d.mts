export declare const entrypoints: Record<string, string>;
