var R=require("../../../chunks/[turbopack]_runtime.js")("server/app/api/health/route.js")
R.c("server/chunks/[externals]__0bwf06g0pqv3h._.js")
R.c("server/chunks/[root-of-the-server]__15bjnu5yieigz._.js")
R.c("server/chunks/_02w3xw6xgefnh._.js")
R.c("server/chunks/examples_nextjs__next-internal_server_app_api_health_route_actions_13jx0f0ojqxd7.js")
R.m(40033)
module.exports=R.m(40033).exports
