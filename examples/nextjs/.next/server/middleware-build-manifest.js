globalThis.__BUILD_MANIFEST = {
  "pages": {
    "/_app": []
  },
  "devFiles": [],
  "polyfillFiles": [
    "static/chunks/0cz1d0mv5g_q7.js"
  ],
  "lowPriorityFiles": [
    "static/8CqP4VSJTqeOwPtOUV9aY/_buildManifest.js",
    "static/8CqP4VSJTqeOwPtOUV9aY/_ssgManifest.js",
    "static/8CqP4VSJTqeOwPtOUV9aY/_clientMiddlewareManifest.js"
  ],
  "rootMainFiles": [
    "static/chunks/0j1we3cwg31qe.js",
    "static/chunks/0m3mby5pxg4oz.js",
    "static/chunks/39_j1bdzreq0m.js",
    "static/chunks/turbopack-077hmtqrhcoji.js"
  ],
  "rootMainFilesTree": {},
  "pagesChunkGroupBootstrapParams": {
    "/_not-found/page": {
      "otherChunks": [
        "static/chunks/0j1we3cwg31qe.js",
        "static/chunks/0m3mby5pxg4oz.js",
        "static/chunks/39_j1bdzreq0m.js"
      ],
      "runtimeModuleIds": [
        94553
      ]
    },
    "/_global-error/page": {
      "otherChunks": [
        "static/chunks/0j1we3cwg31qe.js",
        "static/chunks/0m3mby5pxg4oz.js",
        "static/chunks/39_j1bdzreq0m.js"
      ],
      "runtimeModuleIds": [
        94553
      ]
    }
  },
  "chunkLoadingGlobal": "TURBOPACK"
};
