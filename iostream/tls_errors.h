// BoringSSL's error queue as text, for the TLS code's error messages. Private to the tls
// target (listed in its srcs): not part of the API.

#ifndef GUST_IOSTREAM_TLS_ERRORS_H_
#define GUST_IOSTREAM_TLS_ERRORS_H_

#include <string>

namespace gust {
namespace internal {

// Drains BoringSSL's error queue into one line ("error:... ; error:..."), or "" if empty.
std::string TakeSslErrors();

}  // namespace internal
}  // namespace gust

#endif  // GUST_IOSTREAM_TLS_ERRORS_H_
