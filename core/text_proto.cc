#include "core/text_proto.h"

#include "core/strict_json.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

namespace passage::core {
namespace {

class Collector : public google::protobuf::io::ErrorCollector {
 public:
  explicit Collector(std::string_view filename) : filename_(filename) {}
  void AddError(int line, google::protobuf::io::ColumnNumber column,
                const std::string& message) override {
    if (first_.empty()) {
      first_ = filename_ + ":" + std::to_string(line + 1) + ":" + std::to_string(column + 1) +
               ": " + message;
    }
  }
  const std::string& first() const { return first_; }

 private:
  std::string filename_;
  std::string first_;
};

}  // namespace

Status ParseConfigText(std::string_view text, std::string_view filename,
                       google::protobuf::Message* out) {
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && text[first] == '{') {
    if (Status strict = CheckStrictJson(text, out->GetDescriptor()); !strict.ok()) {
      return Status::InvalidArgument(std::string(filename),
                                     (strict.field().empty() ? "" : strict.field() + ": ") +
                                         strict.message());
    }
    auto st = google::protobuf::util::JsonStringToMessage(std::string(text), out);
    if (!st.ok()) {
      return Status::InvalidArgument(std::string(filename), std::string(st.message()));
    }
    return Status::Ok();
  }
  google::protobuf::TextFormat::Parser parser;
  Collector errors(filename);
  parser.RecordErrorsTo(&errors);
  google::protobuf::io::ArrayInputStream in(text.data(), static_cast<int>(text.size()));
  if (!parser.Parse(&in, out)) {
    return Status::InvalidArgument(std::string(filename),
                                   errors.first().empty() ? "does not parse" : errors.first());
  }
  return Status::Ok();
}

}  // namespace passage::core
