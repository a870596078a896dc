module.exports=[44816,a=>{"use strict";a.s([])}];

//# sourceMappingURL=1vm5_nextjs__next-internal_server_app__global-error_page_actions_1ricqjh5mwq1w.js.map