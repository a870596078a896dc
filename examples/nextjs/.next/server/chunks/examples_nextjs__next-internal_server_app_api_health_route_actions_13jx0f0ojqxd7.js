module.exports=[99370,s=>{"use strict";s.s([])}];

//# sourceMappingURL=examples_nextjs__next-internal_server_app_api_health_route_actions_13jx0f0ojqxd7.js.map