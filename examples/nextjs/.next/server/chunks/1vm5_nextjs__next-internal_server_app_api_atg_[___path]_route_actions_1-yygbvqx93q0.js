module.exports=[77053,s=>{"use strict";s.s([])}];

//# sourceMappingURL=1vm5_nextjs__next-internal_server_app_api_atg_%5B___path%5D_route_actions_1-yygbvqx93q0.js.map