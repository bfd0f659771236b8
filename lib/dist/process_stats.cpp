// What the process costs: communication counts, the trace timeline (lib/dist/process_stats.h).
#include "lib/dist/process_stats.h"

#include <chrono>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "io/files.h"

namespace clues {

namespace {

struct Span {
  std::string name;
  int lane;
  double t0, dur;
  int64_t bytes;
};

constexpr size_t kMaxSpans = 1000000;

struct Trace {
  const char* prefix = std::getenv("CLUES_TRACE");
  double start = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::vector<Span> spans;
  int64_t dropped = 0;
};

Trace g_trace;  // made before main, so its start precedes every span

Trace& trace() { return g_trace; }

}  // namespace

double steady_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

CommStats& comm_stats() {
  static CommStats stats;
  return stats;
}

CommTimer::CommTimer(int64_t bytes, const char* what) : range_(what), t0_(steady_s()), bytes_(bytes), what_(what) {
  comm_stats().bytes += bytes;
  comm_stats().calls += 1;
}

CommTimer::~CommTimer() {
  const double dur = steady_s() - t0_;
  comm_stats().seconds += dur;
  if (tracing()) trace_span(what_, 1, t0_, dur, bytes_);
}

bool tracing() { return trace().prefix != nullptr && *trace().prefix != '\0'; }

void trace_span(const std::string& name, int lane, double t0, double dur, int64_t bytes) {
  Trace& t = trace();
  if (t.spans.size() >= kMaxSpans) {
    ++t.dropped;
    return;
  }
  t.spans.push_back({name, lane, t0, dur, bytes});
}

std::string write_trace(int rank) {
  if (!tracing()) return "";
  const Trace& t = trace();
  nlohmann::json events = nlohmann::json::array();
  for (const char* lane : {"phases", "communication"})
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", rank}, {"tid", events.size()},
                      {"args", {{"name", lane}}}});
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", rank}, {"args", {{"name", "rank " + std::to_string(rank)}}}});
  for (const Span& s : t.spans) {
    nlohmann::json e = {{"name", s.name}, {"ph", "X"}, {"pid", rank}, {"tid", s.lane},
                        {"ts", (s.t0 - t.start) * 1e6}, {"dur", s.dur * 1e6}};
    if (s.bytes >= 0) e["args"] = {{"bytes", s.bytes}};
    events.push_back(std::move(e));
  }
  const nlohmann::json doc = {{"traceEvents", events}, {"displayTimeUnit", "ms"},
                              {"otherData", {{"rank", rank}, {"dropped_events", t.dropped}}}};
  const std::string path = std::string(t.prefix) + std::to_string(rank) + ".json";
  write_text_atomic(path, doc.dump());
  return path;
}

}  // namespace clues
