#include "server/engine/serialize.h"

#include <cstring>
#include <string>

#include "gtest/gtest.h"
#include "server/engine/network.h"
#include "tests/testing/network_format1.h"

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

// Format 2 is format 1 with version 2 and without the trailing CRC-32.
TEST(SerializeTest, WritesFormatTwoWithoutAChecksum) {
  for (bool bias : {true, false}) {
    const Network n = Sample(bias);
    std::string expected = testing::EncodeNetworkFormat1Body(n);
    expected[4] = 2;
    EXPECT_EQ(SerializeNetwork(n), expected);
  }
}

TEST(SerializeTest, ReadsFormatOneWithItsChecksum) {
  for (bool bias : {true, false}) {
    const Network n = Sample(bias);
    const absl::StatusOr<Network> back =
        ParseNetwork(testing::EncodeNetworkFormat1(n));
    ASSERT_TRUE(back.ok()) << back.status();
    ExpectSame(n, *back);
    EXPECT_EQ(SerializeNetwork(*back), SerializeNetwork(n));
  }
}

TEST(SerializeTest, EveryTruncationIsDataLoss) {
  for (const std::string& bytes :
       {SerializeNetwork(Sample(true)),
        testing::EncodeNetworkFormat1(Sample(true))}) {
    for (size_t len = 0; len < bytes.size(); ++len) {
      EXPECT_EQ(
          ParseNetwork(absl::string_view(bytes).substr(0, len)).status().code(),
          absl::StatusCode::kDataLoss)
          << "format " << int{bytes[4]} << ", length " << len;
    }
  }
}

// The blob has no checksum of its own (the store's record has one, see
// ModelStoreTest.DecodeRejectsEveryFlippedByteOfTheNetwork): a flipped byte is
// either refused or read for what it says, never ignored. A damaged magic or
// format version is DATA_LOSS.
TEST(SerializeTest, EveryFlippedByteIsRefusedOrReadAsItIs) {
  const std::string bytes = SerializeNetwork(Sample(true));
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string bad = bytes;
    bad[i] = static_cast<char>(bad[i] ^ 0x40);
    const absl::StatusOr<Network> n = ParseNetwork(bad);
    if (n.ok()) {
      EXPECT_EQ(SerializeNetwork(*n), bad) << "byte " << i;
    } else if (i < 8) {  // magic, format version
      EXPECT_EQ(n.status().code(), absl::StatusCode::kDataLoss) << "byte " << i;
    }
  }
  EXPECT_EQ(ParseNetwork(bytes + "x").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseNetwork("not a network at all").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(SerializeTest, UnknownFormatVersionIsDataLoss) {
  for (char version : {0, 3, 0x41}) {
    std::string bytes = SerializeNetwork(Sample(true));
    bytes[4] = version;
    const absl::Status s = ParseNetwork(bytes).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  }
}

// A well-formed blob whose spec is invalid, in both formats (format 1 with a
// good checksum).
TEST(SerializeTest, InvalidSpecIsInvalidArgument) {
  // Layer 0's activation (offset 4 magic + 4 version + 4 input + 4 count + 4
  // units) becomes softmax on a hidden layer.
  std::string v2 = SerializeNetwork(Sample(true));
  v2[20] = static_cast<char>(Activation::kSoftmax);
  std::string v1 = testing::EncodeNetworkFormat1Body(Sample(true));
  v1[20] = static_cast<char>(Activation::kSoftmax);
  for (const std::string& bytes : {v2, testing::WithFormat1Crc(v1)}) {
    const absl::Status s = ParseNetwork(bytes).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  }
}

}  // namespace
}  // namespace mlp::engine
