module.exports=[73268,a=>{"use strict";a.s([])}];

//# sourceMappingURL=examples_nextjs__next-internal_server_app__not-found_page_actions_1hwc9qc5v9khd.js.map