#pragma once
// GATEWAY_API marks the symbols libgateway exports; everything else is hidden.
#if defined(GATEWAY_STATIC_DEFINE)
#define GATEWAY_API
#else
#define GATEWAY_API __attribute__((visibility("default")))
#endif
