#include <gateway/error.hpp>
#include <gateway/upstream.hpp>

namespace gateway {

weighted_round_robin::weighted_round_robin(std::span<const std::uint32_t> weights) {
  if (weights.empty()) throw error(errc::invalid_config, "weighted_round_robin: no endpoints");
  state_.reserve(weights.size());
  for (std::uint32_t w : weights) {
    if (w == 0) throw error(errc::invalid_config, "weighted_round_robin: weight 0");
    state_.push_back({static_cast<std::int64_t>(w), 0});
    total_ += w;
  }
}

std::size_t weighted_round_robin::next() noexcept {
  // Smooth WRR: every slot gains its weight, the richest is picked and pays the
  // total. Over `total_` picks each slot is chosen exactly `weight` times, spread out.
  std::size_t best = 0;
  for (std::size_t i = 0; i < state_.size(); ++i) {
    state_[i].current += state_[i].weight;
    if (state_[i].current > state_[best].current) best = i;
  }
  state_[best].current -= total_;
  return best;
}

}  // namespace gateway
