#include "iostream/tcp_client.h"

#include <netinet/in.h>

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "iostream/errors.h"
#include "iostream/ssl_io_stream.h"
#include "iostream/task.h"

namespace gust {
namespace {

// One connection attempt sequence (Tornado: _Connector). Owned by the callbacks it schedules.
class Connector : public std::enable_shared_from_this<Connector> {
 public:
  Connector(std::string host, uint16_t port, ConnectOptions options)
      : loop_(IOLoop::Current()),
        host_(std::move(host)),
        port_(port),
        options_(std::move(options)) {}

  Future<std::unique_ptr<IOStream>> future() { return promise_.future(); }

  void Start(Future<std::vector<SocketAddress>> resolved) {
    started_ = loop_.Time();
    if (options_.timeout != absl::InfiniteDuration()) {
      timeout_ = loop_.CallLater(options_.timeout, [self = shared_from_this()] {
        self->Fail(absl::DeadlineExceededError(absl::StrCat(
            "TCPClient: timed out after ", absl::FormatDuration(self->options_.timeout),
            " connecting to ", self->Target(), self->Tried())));
      });
    }
    resolved.AddDoneCallback(
        [self = shared_from_this()](const absl::StatusOr<std::vector<SocketAddress>>& result) {
          self->OnResolved(result);
        });
  }

 private:
  std::string Target() const { return absl::StrCat(host_, ":", port_); }
  std::string Tried() const {
    if (tried_.empty()) return "";
    return absl::StrCat("; tried ", absl::StrJoin(tried_, ", "));
  }

  void OnResolved(const absl::StatusOr<std::vector<SocketAddress>>& result) {
    if (done_) return;
    if (!result.ok()) {
      return Fail(absl::Status(result.status().code(),
                               absl::StrCat("TCPClient: connecting to ", Target(), ": ",
                                            result.status().message())));
    }
    for (const SocketAddress& address : *result) {
      if (primary_.empty() || address.family() == primary_.front().family()) {
        primary_.push_back(address);
      } else {
        secondary_.push_back(address);
      }
    }
    if (primary_.empty()) {
      return Fail(absl::NotFoundError(absl::StrCat("TCPClient: no address for ", Target())));
    }
    TryNext(primary_);
    eyeballs_ = loop_.CallLater(options_.happy_eyeballs_delay,
                                [self = shared_from_this()] { self->StartSecondary(); });
  }

  void StartSecondary() {
    if (done_ || secondary_started_) return;
    secondary_started_ = true;
    TryNext(secondary_);
  }

  void TryNext(std::deque<SocketAddress>& addresses) {
    if (done_) return;
    if (addresses.empty()) return MaybeFail();
    const SocketAddress address = addresses.front();
    addresses.pop_front();
    const bool is_primary = &addresses == &primary_;
    absl::StatusOr<std::unique_ptr<IOStream>> created =
        IOStream::Create(address.family(), options_.stream_options);
    if (created.ok() && (!options_.source_ip.empty() || options_.source_port != 0)) {
      absl::StatusOr<SocketAddress> source = SocketAddress::FromIp(
          options_.source_ip.empty() ? (address.family() == AF_INET6 ? "::" : "0.0.0.0")
                                     : options_.source_ip,
          options_.source_port);
      if (!source.ok()) {
        created = source.status();
      } else if (bind((*created)->fileno(), source->sockaddr_ptr(), source->size()) != 0) {
        created = ErrnoError(errno, absl::StrCat("bind ", source->ToString()));
      }
    }
    if (!created.ok()) {
      tried_.push_back(absl::StrCat(address.ToString(), " (", created.status().message(), ")"));
      return TryNext(addresses);
    }
    IOStream* stream = created->get();
    attempts_.push_back(*std::move(created));
    ++pending_;
    // The attempt belongs to attempts_ until it wins; once the connector is done the losers
    // are gone, so a late result must not touch `stream`.
    stream->Connect(address).AddDoneCallback(
        [self = shared_from_this(), stream, address,
         is_primary](const absl::StatusOr<IOStream*>& result) {
          --self->pending_;
          if (self->done_) return;
          if (result.ok()) return self->Win(stream);
          const absl::Status real = RealError(result.status());
          self->tried_.push_back(absl::StrCat(address.ToString(), " (",
                                              real.ok() ? result.status().message()
                                                        : real.message(),
                                              ")"));
          // A failure moves on at once: to the next address of the family, and (RFC 8305)
          // to the other family without waiting for the delay.
          self->TryNext(is_primary ? self->primary_ : self->secondary_);
          if (is_primary) self->StartSecondary();
        });
  }

  void MaybeFail() {
    if (done_ || pending_ > 0 || !primary_.empty() || !secondary_.empty()) return;
    if (!secondary_started_) return StartSecondary();
    Fail(absl::UnavailableError(
        absl::StrCat("TCPClient: cannot connect to ", Target(), Tried())));
  }

  void Finish() {
    done_ = true;
    loop_.RemoveTimeout(timeout_);
    loop_.RemoveTimeout(eyeballs_);
  }

  void Win(IOStream* winner) {
    Finish();
    std::unique_ptr<IOStream> stream;
    for (std::unique_ptr<IOStream>& attempt : attempts_) {
      if (attempt.get() == winner) stream = std::move(attempt);
    }
    attempts_.clear();  // closes the others
    if (options_.tls == nullptr) return promise_.SetResult(std::move(stream));
    FinishTls(shared_from_this(), std::move(stream));
  }

  // Owned by the loop, like every Task: destroying the loop mid-handshake cancels it.
  static Task<void> FinishTls(std::shared_ptr<Connector> self, std::unique_ptr<IOStream> plain) {
    const std::string name =
        self->options_.server_hostname.empty() ? self->host_ : self->options_.server_hostname;
    // The timeout covers the handshake too: what is left of it.
    const absl::Duration left =
        self->options_.timeout == absl::InfiniteDuration()
            ? absl::InfiniteDuration()
            : self->options_.timeout - (self->loop_.Time() - self->started_);
    absl::StatusOr<std::unique_ptr<SSLIOStream>> tls =
        co_await self->options_.tls->stream_makers().start_tls(
            *plain, false, self->options_.tls, name, std::max(left, absl::ZeroDuration()));
    if (tls.ok()) {
      self->promise_.SetResult(std::unique_ptr<IOStream>(*std::move(tls)));
    } else if (ErrnoOf(tls.status()) == ETIMEDOUT) {
      self->promise_.SetResult(absl::DeadlineExceededError(absl::StrCat(
          "TCPClient: timed out after ", absl::FormatDuration(self->options_.timeout),
          " in the TLS handshake with ", self->Target())));
    } else {
      self->promise_.SetResult(tls.status());
    }
    co_return absl::OkStatus();
  }

  void Fail(absl::Status status) {
    if (done_) return;
    Finish();
    attempts_.clear();  // closes them
    promise_.SetResult(std::move(status));
  }

  IOLoop& loop_;
  const std::string host_;
  const uint16_t port_;
  const ConnectOptions options_;
  Promise<std::unique_ptr<IOStream>> promise_;
  std::deque<SocketAddress> primary_;
  std::deque<SocketAddress> secondary_;
  bool secondary_started_ = false;
  bool done_ = false;
  int pending_ = 0;
  std::vector<std::unique_ptr<IOStream>> attempts_;
  std::vector<std::string> tried_;
  absl::Time started_;
  IOLoop::TimeoutHandle timeout_;
  IOLoop::TimeoutHandle eyeballs_;
};

}  // namespace

Future<std::unique_ptr<IOStream>> TCPClient::Connect(std::string host, uint16_t port,
                                                     ConnectOptions options) {
  const int family = options.family;
  auto connector = std::make_shared<Connector>(host, port, std::move(options));
  Future<std::unique_ptr<IOStream>> future = connector->future();
  connector->Start(resolver_->Resolve(std::move(host), port, family));
  return future;
}

}  // namespace gust
