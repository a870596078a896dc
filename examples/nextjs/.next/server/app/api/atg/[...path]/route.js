var R=require("../../../../chunks/[turbopack]_runtime.js")("server/app/api/atg/[...path]/route.js")
R.c("server/chunks/[externals]__0php6hpabc079._.js")
R.c("server/chunks/[root-of-the-server]__1hyc89a4lveo3._.js")
R.c("server/chunks/[root-of-the-server]__15bjnu5yieigz._.js")
R.c("server/chunks/1vm5_nextjs__next-internal_server_app_api_atg_[___path]_route_actions_1-yygbvqx93q0.js")
R.m(95298)
module.exports=R.m(95298).exports
