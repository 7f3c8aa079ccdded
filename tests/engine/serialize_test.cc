#include "server/engine/serialize.h"

#include <zlib.h>

#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "server/engine/network.h"

namespace mlp::engine {
namespace {

Network Sample(bool bias) {
  NetworkSpec spec;
  spec.input_size = 5;
  spec.layers = {{6, Activation::kTanh},
                 {4, Activation::kRelu},
                 {3, Activation::kSoftmax}};
  spec.loss = Loss::kCrossEntropy;
  spec.bias = bias;
  spec.init = Init::kXavierUniform;
  spec.seed = 0xdeadbeefcafeULL;
  Network n = Network::Create(spec).value();
  if (bias) n.mutable_layers()[1].bias.setLinSpaced(4, -1.5f, 2.25f);
  return n;
}

void ExpectSame(const Network& a, const Network& b) {
  EXPECT_EQ(a.spec().input_size, b.spec().input_size);
  EXPECT_EQ(a.spec().loss, b.spec().loss);
  EXPECT_EQ(a.spec().bias, b.spec().bias);
  EXPECT_EQ(a.spec().init, b.spec().init);
  EXPECT_EQ(a.spec().seed, b.spec().seed);
  ASSERT_EQ(a.layers().size(), b.layers().size());
  for (size_t l = 0; l < a.layers().size(); ++l) {
    EXPECT_EQ(a.spec().layers[l].units, b.spec().layers[l].units);
    EXPECT_EQ(a.layers()[l].activation, b.layers()[l].activation);
    ASSERT_EQ(a.layers()[l].weights.rows(), b.layers()[l].weights.rows());
    ASSERT_EQ(a.layers()[l].weights.cols(), b.layers()[l].weights.cols());
    EXPECT_EQ(
        std::memcmp(a.layers()[l].weights.data(), b.layers()[l].weights.data(),
                    a.layers()[l].weights.size() * sizeof(float)),
        0);
    ASSERT_EQ(a.layers()[l].bias.size(), b.layers()[l].bias.size());
    if (a.layers()[l].bias.size() > 0) {  // data() is null when empty
      EXPECT_EQ(
          std::memcmp(a.layers()[l].bias.data(), b.layers()[l].bias.data(),
                      a.layers()[l].bias.size() * sizeof(float)),
          0);
    }
  }
}

TEST(SerializeTest, RoundTripsBitForBit) {
  for (bool bias : {true, false}) {
    const Network n = Sample(bias);
    const std::string bytes = SerializeNetwork(n);
    EXPECT_EQ(bytes.substr(0, 4), "MLPN");
    const Network back = ParseNetwork(bytes).value();
    ExpectSame(n, back);
    EXPECT_EQ(SerializeNetwork(back), bytes);
  }
}

TEST(SerializeTest, EveryTruncationIsDataLoss) {
  const std::string bytes = SerializeNetwork(Sample(true));
  for (size_t len = 0; len < bytes.size(); ++len) {
    EXPECT_EQ(
        ParseNetwork(absl::string_view(bytes).substr(0, len)).status().code(),
        absl::StatusCode::kDataLoss)
        << "length " << len;
  }
}

TEST(SerializeTest, EveryFlippedByteIsDataLoss) {
  const std::string bytes = SerializeNetwork(Sample(true));
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    EXPECT_EQ(ParseNetwork(bad).status().code(), absl::StatusCode::kDataLoss)
        << "byte " << i;
  }
  EXPECT_EQ(ParseNetwork(bytes + "x").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseNetwork("not a network at all").status().code(),
            absl::StatusCode::kDataLoss);
}

// A well-formed file (good checksum) whose spec is invalid.
TEST(SerializeTest, InvalidSpecWithGoodChecksumIsInvalidArgument) {
  std::string bytes = SerializeNetwork(Sample(true));
  bytes.resize(bytes.size() - 4);
  // Layer 0's activation (offset 4 magic + 4 version + 4 input + 4 count + 4
  // units) becomes softmax on a hidden layer.
  bytes[20] = static_cast<char>(Activation::kSoftmax);
  const uLong crc =
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()),
            static_cast<uInt>(bytes.size()));
  for (int i = 0; i < 4; ++i)
    bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  const absl::Status s = ParseNetwork(bytes).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
}

}  // namespace
}  // namespace mlp::engine
